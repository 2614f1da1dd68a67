<#
.SYNOPSIS
  End-to-end check of the Windows example on a real cluster (run it on the Windows node).

.DESCRIPTION
  Applies examples/windows (unless -SkipApply) and checks, in order:
    0. the node self-test (cplauncher doctor --selftest, inside the launcher pod) says the
       configured strategy works on this node — its report is printed either way;
    1. the anchor pod is Ready (which its readinessProbe makes wait for the workload);
    2. the launcher Deployment is Available;
    3. the launcher's log names the anchor pod, its IP, a compartment id and the workload PID;
    4. HTTP 200 through the Service, from a Linux curl pod;
    5. HTTP 200 on the anchor pod IP:8080, from a Linux curl pod;
    6. HTTP 200 on the anchor pod IP:8080, from this host.
  Prints PASS/FAIL per check and exits 1 if any failed.

.EXAMPLE
  pwsh -File examples/windows/e2e.ps1 -Image myregistry/cplauncher-win:0.1.0
#>
[CmdletBinding()]
param(
  [string]$Namespace = 'k2s',
  [string]$Image = '',                   # launcher image; '' keeps launcher.yaml's
  [string]$CurlImage = 'curlimages/curl:8.11.1',
  [string]$Path = '/',                   # HTTP path the workload answers with 200
  [string]$DnsName = 'kubernetes.default.svc.cluster.local', # resolved inside the compartment
  [int]$TimeoutSeconds = 300,
  [switch]$SkipApply,
  [switch]$Cleanup
)

$ErrorActionPreference = 'Stop'
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$results = [System.Collections.Generic.List[object]]::new()

function Check([string]$Name, [scriptblock]$Body) {
  try {
    $detail = & $Body
    $results.Add([pscustomobject]@{ Check = $Name; Result = 'PASS'; Detail = "$detail" })
    Write-Host "PASS  $Name  $detail"
  } catch {
    $results.Add([pscustomobject]@{ Check = $Name; Result = 'FAIL'; Detail = "$($_.Exception.Message)" })
    Write-Host "FAIL  $Name  $($_.Exception.Message)" -ForegroundColor Red
  }
}

function Kubectl {
  $out = & kubectl @args 2>&1
  if ($LASTEXITCODE -ne 0) { throw "kubectl $($args -join ' '): $out" }
  return $out
}

# HTTP status code of $Url as seen from a throwaway Linux pod (cluster network, not this host).
function CurlFromLinux([string]$Url) {
  $name = "cplauncher-e2e-curl-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
  $overrides = '{"spec":{"nodeSelector":{"kubernetes.io/os":"linux"}}}'
  $code = & kubectl run $name -n $Namespace --image=$CurlImage --restart=Never --rm -i --quiet `
    --overrides=$overrides --command -- curl -s -o /dev/null -w '%{http_code}' --max-time 10 $Url 2>&1
  # Only the last three digits: kubectl may add its own lines around curl's output.
  if ("$code" -match '(\d{3})\s*$') { return $Matches[1] }
  return "none ($code)"
}

if (-not $SkipApply) {
  Kubectl apply -k $here | Out-Null
  if ($Image) { Kubectl -n $Namespace set image deployment/cplauncher-albums "cplauncher=$Image" | Out-Null }
}

# First: does the configured strategy work on this node at all? The anchor pod must exist (its
# compartment is what the self-test places probes in); it becomes Ready only later, once the
# workload listens.
Check 'node self-test (cplauncher doctor --selftest)' {
  Kubectl -n $Namespace wait --for=jsonpath='{.status.phase}'=Running pod -l app=cp-albums-win "--timeout=$($TimeoutSeconds)s" | Out-Null
  Kubectl -n $Namespace wait --for=jsonpath='{.status.phase}'=Running pod -l app=cplauncher-albums "--timeout=$($TimeoutSeconds)s" | Out-Null
  $report = & kubectl -n $Namespace exec deployment/cplauncher-albums -- `
    '%CONTAINER_SANDBOX_MOUNT_POINT%\cplauncher.exe' doctor --selftest `
    -c 'etc\cplauncher\compartments.yaml' --dns-name $DnsName 2>&1
  $code = $LASTEXITCODE
  Write-Host (($report | ForEach-Object { "      $_" }) -join "`n")
  if ($code -ne 0) { throw "exit $code: the configured strategy is not shown to work here (report above)" }
  'configured strategy works on this node'
}

Check 'anchor pod Ready' {
  Kubectl -n $Namespace wait --for=condition=Ready pod -l app=cp-albums-win "--timeout=$($TimeoutSeconds)s" | Out-Null
  $script:anchorPod = (Kubectl -n $Namespace get pod -l app=cp-albums-win -o 'jsonpath={.items[0].metadata.name}')
  $script:anchorIP = (Kubectl -n $Namespace get pod $script:anchorPod -o 'jsonpath={.status.podIP}')
  if (-not $script:anchorIP) { throw 'anchor has no pod IP' }
  "$script:anchorPod $script:anchorIP"
}

Check 'launcher Deployment Available' {
  Kubectl -n $Namespace wait --for=condition=Available deployment/cplauncher-albums "--timeout=$($TimeoutSeconds)s" | Out-Null
  'available'
}

Check 'launcher log names pod, IP, compartment and PID' {
  $log = (Kubectl -n $Namespace logs deployment/cplauncher-albums --tail=500) -join "`n"
  $missing = @()
  if ($log -notmatch [regex]::Escape($script:anchorPod)) { $missing += "pod $script:anchorPod" }
  if ($log -notmatch [regex]::Escape($script:anchorIP)) { $missing += "IP $script:anchorIP" }
  if ($log -notmatch '(?i)compartment\D{0,12}(\d+)') { $missing += 'compartment id' } else { $cid = $Matches[1] }
  if ($log -notmatch '(?i)\bpid\D{0,12}(\d+)') { $missing += 'PID' } else { $wpid = $Matches[1] }
  if ($missing) { throw "log lacks: $($missing -join ', ')" }
  $script:workloadPid = [int]$wpid
  "compartment $cid, pid $wpid"
}

Check 'HTTP 200 via Service (Linux curl pod)' {
  $code = CurlFromLinux "http://cp-albums-win.$Namespace.svc.cluster.local$Path"
  if ($code -ne '200') { throw "HTTP $code" }
  'HTTP 200'
}

Check 'HTTP 200 via anchor pod IP (Linux curl pod)' {
  $code = CurlFromLinux "http://$($script:anchorIP):8080$Path"
  if ($code -ne '200') { throw "HTTP $code" }
  'HTTP 200'
}

Check 'HTTP 200 via anchor pod IP (this host)' {
  $r = Invoke-WebRequest -UseBasicParsing -TimeoutSec 10 -Uri "http://$($script:anchorIP):8080$Path"
  if ($r.StatusCode -ne 200) { throw "HTTP $($r.StatusCode)" }
  'HTTP 200'
}

# Informational: the PID from the log should be the unmodified workload binary on this host.
if ($script:workloadPid) {
  $exe = Get-Process -Id $script:workloadPid -ErrorAction SilentlyContinue | Select-Object -ExpandProperty Path
  Write-Host "info  pid $($script:workloadPid) is $exe"
}

if ($Cleanup) { Kubectl delete -k $here --wait=false | Out-Null }

$failed = @($results | Where-Object Result -eq 'FAIL').Count
$passed = $results.Count - $failed
Write-Host ""
Write-Host "$passed passed, $failed failed"
exit ([int]($failed -gt 0))
