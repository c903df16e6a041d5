<#
.SYNOPSIS
  obs-faceswap installer for Windows. Safe to run again: it only does what is not done yet.

.DESCRIPTION
  Creates the worker's virtual environment, installs obs-faceswap with the right onnxruntime
  build (CUDA when nvidia-smi reports a driver, else the CPU/DirectML-capable default), writes
  the user config (%APPDATA%\obs-faceswap\config.json), and adds the OBS script to the current
  OBS scene collection (only while OBS is closed, after a timestamped backup).

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File installer\install.ps1
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -DryRun
#>
[CmdletBinding()]
param(
  [string]$Venv = "",
  [string]$Python = "",
  [switch]$Gpu,
  [switch]$Cpu,
  [string]$Extras = "",
  [switch]$NoObs,
  [string]$ObsConfig = "",
  [string]$Script = "",
  [string]$Config = "",
  [switch]$NoDoctor,
  [switch]$NoInstall,
  [switch]$DryRun,
  [switch]$Help
)
$ErrorActionPreference = "Stop"

if ($Help) { Get-Help $MyInvocation.MyCommand.Path -Detailed; exit 0 }

$Root = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
if (-not $Venv) { $Venv = Join-Path $Root ".venv" }
$Venv = [System.IO.Path]::GetFullPath($Venv)
$Vpy = Join-Path $Venv "Scripts\python.exe"
if ($Config) { $env:OBS_FACESWAP_CONFIG = $Config }

function Fail([string]$msg) { Write-Host "install.ps1: error: $msg" -ForegroundColor Red; exit 2 }
function Step([string]$msg) { Write-Host ""; Write-Host "==> $msg" }
function Run([string]$exe, [string[]]$argv) {
  Write-Host ("    $ " + $exe + " " + ($argv -join " "))
  if (-not $DryRun) {
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { Fail "command failed ($LASTEXITCODE): $exe $($argv -join ' ')" }
  }
}

# Run a native command only to learn whether it succeeds (stderr ignored, never terminates the script).
function Probe([string]$exe, [string[]]$argv) {
  $old = $ErrorActionPreference; $ErrorActionPreference = "Continue"
  try { & $exe @argv 2>$null | Out-Null; return ($LASTEXITCODE -eq 0) }
  catch { return $false }
  finally { $ErrorActionPreference = $old }
}

# 1. a Python 3.11+ (py launcher first)
$BaseCmd = @()
if ($Python) { $BaseCmd = @($Python) }
else {
  foreach ($cand in @(@("py", "-3.12"), @("py", "-3.11"), @("py", "-3"), @("python"))) {
    $exe = $cand[0]; $rest = @($cand | Select-Object -Skip 1)
    if (Probe $exe ($rest + @("-c", "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)"))) {
      $BaseCmd = $cand; break
    }
  }
}
if ($BaseCmd.Count -eq 0) { Fail "no Python 3.11+ found: install it from python.org (tick 'Add to PATH') or pass -Python" }
$BaseExe = $BaseCmd[0]; $BaseArgs = @($BaseCmd | Select-Object -Skip 1)
$PyVer = & $BaseExe @BaseArgs -c "import sys; print('%d.%d' % sys.version_info[:2])"

# 2. which onnxruntime build
$Driver = ""
if (Get-Command nvidia-smi -ErrorAction SilentlyContinue) {
  try { $Driver = (& nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>$null | Select-Object -First 1) } catch { }
}
$Build = "cpu"
if ($Gpu) { $Build = "gpu" } elseif (-not $Cpu -and $Driver) { $Build = "gpu" }
$ExtraList = $Extras
if ($Build -eq "gpu") { $ExtraList = if ($ExtraList) { "gpu,$ExtraList" } else { "gpu" } }
$Spec = if ($ExtraList) { "$Root[$ExtraList]" } else { $Root }
$ModelsDir = if ($env:OBS_FACESWAP_MODELS) { $env:OBS_FACESWAP_MODELS } else { Join-Path $Root "models\downloads" }

Write-Host "obs-faceswap installer"
Write-Host "  project:      $Root"
Write-Host "  venv:         $Venv"
Write-Host "  base python:  $($BaseCmd -join ' ') ($PyVer)"
Write-Host ("  onnxruntime:  $Build" + $(if ($Driver) { " (NVIDIA driver $Driver)" } else { "" }))
Write-Host "  models:       $ModelsDir"
if ($DryRun) { Write-Host "  dry run: nothing will be changed" }

# 3. the virtual environment
Step "virtual environment"
if (Test-Path $Vpy) { Write-Host "    exists: $Venv" } else { Run $BaseExe ($BaseArgs + @("-m", "venv", $Venv)) }

# 4. the package (skipped when pyproject.toml and the options are unchanged)
Step "install obs-faceswap ($Spec)"
$Stamp = Join-Path $Venv ".obs-faceswap-install"
$Hash = (Get-FileHash (Join-Path $Root "pyproject.toml") -Algorithm SHA256).Hash.ToLower()
$Want = "$Hash $Build $ExtraList $Root"
$Satisfied = $false
if ((Test-Path $Vpy) -and (Test-Path $Stamp) -and ((Get-Content $Stamp -Raw).Trim() -eq $Want)) {
  $Satisfied = Probe $Vpy @("-c", "import obs_faceswap, onnxruntime, cv2, numpy")
}
if ($NoInstall) {
  if (-not $DryRun) {
    if (-not (Test-Path $Vpy)) { Fail "-NoInstall: no virtual environment at $Venv" }
    if (-not (Probe $Vpy @("-c", "import obs_faceswap, onnxruntime"))) { Fail "-NoInstall: obs-faceswap is not importable in $Venv (run without -NoInstall)" }
  }
  Write-Host "    skipped (-NoInstall)"
}
elseif ($Satisfied) { Write-Host "    already installed (pyproject.toml and options unchanged)" }
else {
  Run $Vpy @("-m", "pip", "install", "--upgrade", "pip")
  Run $Vpy @("-m", "pip", "install", "-e", $Spec)
  if ($Build -eq "gpu") {
    # onnxruntime and onnxruntime-gpu install the same module: keep only the GPU one
    Run $Vpy @("-m", "pip", "uninstall", "-y", "onnxruntime")
    Run $Vpy @("-m", "pip", "install", "--force-reinstall", "--no-deps", "onnxruntime-gpu>=1.17")
  }
  if (-not $DryRun) { Set-Content -Path $Stamp -Value $Want -Encoding UTF8 }
}

# 5. the user config
Step "user config"
$Version = (Select-String -Path (Join-Path $Root "pyproject.toml") -Pattern '^version\s*=\s*"(.*)"' |
  Select-Object -First 1).Matches[0].Groups[1].Value
$CfgExe = $Vpy; $CfgArgs = @()
if (-not (Test-Path $Vpy)) { $CfgExe = $BaseExe; $CfgArgs = $BaseArgs }
Push-Location $Root
try {
  Run $CfgExe ($CfgArgs + @("-m", "obs_faceswap.config", "--write", "python=$Vpy", "project_root=$Root",
    "models_dir=$ModelsDir", "version=$Version"))

  # 6. OBS
  Step "OBS Studio"
  $RegArgs = @("-m", "obs_faceswap.install.obs_register", "--root", $Root)
  if ($Script) { $RegArgs += @("--script", $Script) }
  if ($ObsConfig) { $RegArgs += @("--obs-config", $ObsConfig) }
  if ($DryRun) { $RegArgs += "--dry-run" }
  if (-not $NoObs) {
    & $CfgExe @CfgArgs @RegArgs
    if ($LASTEXITCODE -ne 0) { Write-Host "    (OBS not changed; follow the steps above)" }
  } else {
    & $CfgExe @CfgArgs -c "from pathlib import Path; from obs_faceswap.install import obs_register as r; print(r.manual_steps(r.find_obs_script(Path(r'$Root'))))"
  }
  Write-Host "    OBS on Windows needs a Python 3 install path: Tools -> Scripts -> Python Settings"
  Write-Host "    (a python.org Python of the version 'obs-faceswap doctor' reports)."
} finally { Pop-Location }

# 7. check
if (-not $NoDoctor) {
  Step "check (obs-faceswap doctor)"
  if ($DryRun) { Write-Host "    $ $Vpy -m obs_faceswap doctor" }
  else {
    & $Vpy -m obs_faceswap doctor
    if ($LASTEXITCODE -ne 0) { Write-Host "    doctor found problems: see the fixes above" }
  }
}
Write-Host ""
Write-Host "Done. Try:  $Venv\Scripts\obs-faceswap.exe live --source your_face.jpg --camera 0"
