// Included first by the generated ABI check (see gen.ts). Compiled with
// x86_64-w64-mingw32-g++ -std=c++17 -fsyntax-only: nothing here runs, every check is a
// static_assert evaluated by the compiler against the MinGW-w64 headers.
#define WIN32_LEAN_AND_MEAN
#define WIN32_NO_STATUS  // ntstatus.h below supplies the full STATUS_* set
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#undef WIN32_NO_STATUS
#include <ntstatus.h>
#include <iphlpapi.h>  // before netioapi.h: selects the user-mode NETIO_STATUS (= DWORD)
#include <netioapi.h>
#include <computenetwork.h>
#include <shellapi.h>
#include <objbase.h>

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

// Prototypes MinGW-w64 does not declare. The job ones transcribed from Microsoft's Win32
// metadata (NETIO_STATUS is the documented return type of the sibling
// Set/GetCurrentThreadCompartmentId).
// If a later MinGW-w64 declares them differently, the redeclaration fails to compile.
extern "C" {
NET_IF_COMPARTMENT_ID WINAPI GetJobCompartmentId(HANDLE JobHandle);
NETIO_STATUS WINAPI SetJobCompartmentId(HANDLE JobHandle, NET_IF_COMPARTMENT_ID CompartmentId);
// Wine's own export (dlls/ntdll/ntdll.spec, include/wine/library.h); absent on Windows.
const char* CDECL wine_get_version(void);
}

namespace abi {

// Equality whose failure message shows both numbers: "required from 'struct abi::eq<104, 100>'".
template <unsigned long long Actual, unsigned long long Expected>
struct eq {
  static_assert(Actual == Expected, "ABI mismatch: see the template arguments <actual, expected>");
  static constexpr bool ok = true;
};

// Deno FFI native types, as written in the TypeScript symbol tables.
enum class K { i8, u8, i16, u16, i32, u32, i64, u64, usize, isize, f32, f64, pointer, buffer, function, boolean, void_ };

constexpr std::size_t size_of(K k) {
  switch (k) {
    case K::i8: case K::u8: case K::boolean: return 1;
    case K::i16: case K::u16: return 2;
    case K::i32: case K::u32: case K::f32: return 4;
    default: return 8;
  }
}
constexpr bool is_int(K k) {
  return k == K::i8 || k == K::u8 || k == K::i16 || k == K::u16 || k == K::i32 || k == K::u32 ||
         k == K::i64 || k == K::u64 || k == K::usize || k == K::isize;
}
constexpr bool is_signed_kind(K k) {
  return k == K::i8 || k == K::i16 || k == K::i32 || k == K::i64 || k == K::isize;
}

// Whether a value of C type T is passed/returned exactly as Deno passes FFI kind k on x64.
template <K k, class T>
constexpr bool matches() {
  if constexpr (std::is_reference_v<T>) {
    return k == K::pointer || k == K::buffer;  // C++ REFGUID is a reference: a pointer in the ABI
  } else {
    using U = std::remove_cv_t<T>;
    if constexpr (k == K::void_) return std::is_void_v<U>;
    else if constexpr (k == K::pointer || k == K::buffer) return std::is_pointer_v<U>;
    else if constexpr (k == K::function) return std::is_pointer_v<U> && std::is_function_v<std::remove_pointer_t<U>>;
    else if constexpr (std::is_enum_v<U>) return is_int(k) && sizeof(U) == size_of(k);
    else if constexpr (std::is_same_v<U, bool>) return k == K::boolean;
    else if constexpr (std::is_integral_v<U>) return is_int(k) && sizeof(U) == size_of(k) && std::is_signed_v<U> == is_signed_kind(k);
    else if constexpr (std::is_floating_point_v<U>) return (k == K::f32 || k == K::f64) && sizeof(U) == size_of(k);
    else return false;
  }
}

template <class F> struct fn;
template <class R, class... A> struct fn<R (*)(A...)> { using ret = R; using args = std::tuple<A...>; static constexpr std::size_t arity = sizeof...(A); };
template <class R, class... A> struct fn<R (*)(A...) noexcept> : fn<R (*)(A...)> {};

// One struct per parameter so a failure names the index, the FFI kind and the C type.
template <std::size_t Index, K Kind, class CType>
struct param {
  static_assert(matches<Kind, CType>(), "FFI parameter kind does not match the C prototype: see <index, kind, C type>");
  static constexpr bool ok = true;
};
template <K Kind, class CType>
struct result {
  static_assert(matches<Kind, CType>(), "FFI result kind does not match the C prototype: see <kind, C type>");
  static constexpr bool ok = true;
};

template <class F, K... P, std::size_t... I>
constexpr bool params_ok(std::index_sequence<I...>) {
  return (param<I, P, std::tuple_element_t<I, typename fn<F>::args>>::ok && ... && true);
}

template <class F, K R, K... P>
constexpr bool check_sig() {
  // A count mismatch is reported by `eq` alone; the per-parameter checks would only add noise.
  if constexpr (!eq<fn<F>::arity, sizeof...(P)>::ok || fn<F>::arity != sizeof...(P)) {
    return false;
  } else {
    return result<R, typename fn<F>::ret>::ok && params_ok<F, P...>(std::index_sequence_for<decltype(P)...>{});
  }
}

template <class F, K R, K... P>
struct sig {
  static constexpr bool ok = check_sig<F, R, P...>();
};

}  // namespace abi
