/*
 * A tiny Windows program the Wine suite launches as its workload. Built by
 * tests/windows/wine_test.ts with x86_64-w64-mingw32-gcc; talks only through its standard
 * handles and exit code, so the tests observe exactly what the launcher would.
 *
 *   helper print OUT ERR CODE   write OUT to stdout, ERR to stderr, exit CODE
 *   helper argv ...             print argv (as parsed by the C runtime) as a JSON array
 *   helper cmdline              print GetCommandLineW()
 *   helper env NAME             print the variable's value, or <unset>
 *   helper cwd                  print the current directory
 *   helper sleep MS             sleep, exit 0
 *   helper tree                 start a grandchild ("sleep"), print its pid, sleep
 *   helper tree-exit            start a grandchild, print its pid, exit 0 at once
 *   helper ctrlbreak            print "ready", exit 42 on Ctrl-Break (3 after 30 s)
 *   helper listen PORT          listen on 127.0.0.1:PORT, print "listening", sleep
 *   helper flood BYTES          write BYTES bytes of a pattern to stdout
 */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static void put(HANDLE h, const char *s, DWORD n) {
  while (n > 0) {
    DWORD w = 0;
    if (!WriteFile(h, s, n, &w, NULL)) return;
    s += w;
    n -= w;
  }
}

static void puts8(HANDLE h, const char *s) { put(h, s, (DWORD)strlen(s)); }

/* UTF-16 -> UTF-8 (lone surrogates become U+FFFD, as WideCharToMultiByte does). */
static void put_wide(HANDLE h, const wchar_t *s) {
  int n = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
  char *b = malloc(n > 0 ? n : 1);
  WideCharToMultiByte(CP_UTF8, 0, s, -1, b, n, NULL, NULL);
  puts8(h, b);
  free(b);
}

/* JSON string with \uXXXX escapes for everything outside printable ASCII: the test decodes
 * it with JSON.parse, so even lone surrogates round-trip exactly. */
static void putjson(HANDLE h, const wchar_t *s) {
  char tmp[8];
  puts8(h, "\"");
  for (; *s; s++) {
    unsigned c = (unsigned short)*s;
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      tmp[0] = (char)c;
      tmp[1] = 0;
    } else {
      snprintf(tmp, sizeof tmp, "\\u%04x", c);
    }
    puts8(h, tmp);
  }
  puts8(h, "\"");
}

static DWORD spawn_self(const wchar_t *args) {
  wchar_t exe[MAX_PATH], cmd[MAX_PATH + 64];
  GetModuleFileNameW(NULL, exe, MAX_PATH);
  _snwprintf(cmd, MAX_PATH + 64, L"\"%ls\" %ls", exe, args);
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  ZeroMemory(&si, sizeof si);
  si.cb = sizeof si;
  /* No handle inheritance: the grandchild must not keep our stdout pipe open. */
  if (!CreateProcessW(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return 0;
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  return pi.dwProcessId;
}

static BOOL WINAPI on_ctrl(DWORD type) {
  char msg[32];
  snprintf(msg, sizeof msg, "ctrl %lu\n", (unsigned long)type);
  puts8(GetStdHandle(STD_OUTPUT_HANDLE), msg);
  if (type == CTRL_BREAK_EVENT) ExitProcess(42);
  return FALSE;
}

int wmain(int argc, wchar_t **argv) {
  HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE), err = GetStdHandle(STD_ERROR_HANDLE);
  char num[32];
  if (argc < 2) return 2;
  const wchar_t *m = argv[1];
  if (!wcscmp(m, L"print") && argc >= 5) {
    put_wide(out, argv[2]);
    put_wide(err, argv[3]);
    return _wtoi(argv[4]);
  }
  if (!wcscmp(m, L"argv")) {
    puts8(out, "[");
    for (int i = 0; i < argc; i++) {
      if (i) puts8(out, ",");
      putjson(out, argv[i]);
    }
    puts8(out, "]\n");
    return 0;
  }
  if (!wcscmp(m, L"cmdline")) {
    putjson(out, GetCommandLineW());
    return 0;
  }
  if (!wcscmp(m, L"env") && argc >= 3) {
    wchar_t v[4096];
    DWORD n = GetEnvironmentVariableW(argv[2], v, 4096);
    if (n == 0 || n >= 4096) puts8(out, "<unset>");
    else put_wide(out, v);
    return 0;
  }
  if (!wcscmp(m, L"cwd")) {
    wchar_t d[MAX_PATH];
    GetCurrentDirectoryW(MAX_PATH, d);
    put_wide(out, d);
    return 0;
  }
  if (!wcscmp(m, L"sleep") && argc >= 3) {
    Sleep((DWORD)_wtoi(argv[2]));
    return 0;
  }
  if (!wcscmp(m, L"tree") || !wcscmp(m, L"tree-exit")) {
    DWORD pid = spawn_self(L"sleep 600000");
    if (!pid) return 3;
    snprintf(num, sizeof num, "grandchild %lu\n", (unsigned long)pid);
    puts8(out, num);
    if (!wcscmp(m, L"tree-exit")) return 0;
    Sleep(600000);
    return 0;
  }
  if (!wcscmp(m, L"ctrlbreak")) {
    SetConsoleCtrlHandler(on_ctrl, TRUE);
    puts8(out, "ready\n");
    Sleep(30000);
    return 3;
  }
  if (!wcscmp(m, L"listen") && argc >= 3) {
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa)) return 4;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in a;
    ZeroMemory(&a, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((u_short)_wtoi(argv[2]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4)) {
      snprintf(num, sizeof num, "error %d\n", WSAGetLastError());
      puts8(out, num);
      return 5;
    }
    puts8(out, "listening\n");
    Sleep(600000);
    return 0;
  }
  if (!wcscmp(m, L"flood") && argc >= 3) {
    long total = _wtol(argv[2]);
    char block[4096];
    for (int i = 0; i < (int)sizeof block; i++) block[i] = (char)('a' + i % 26);
    while (total > 0) {
      DWORD n = total > (long)sizeof block ? (DWORD)sizeof block : (DWORD)total;
      put(out, block, n);
      total -= n;
    }
    return 0;
  }
  puts8(err, "unknown mode\n");
  return 2;
}
