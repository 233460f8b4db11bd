<#
.SYNOPSIS
    Switches compute nodes between the Windows HPC cluster and the Linux
    cluster by calling node-switch on the Linux head node over SSH.

.DESCRIPTION
    Runs on the Windows HPC head node. Each operation is one node-switch
    command sent over SSH (Posh-SSH) to the Linux head's front door, with
    --json output read by ConvertFrom-Json. node-switch's own message is
    shown and the script stops when it exits non-zero.

    ToLinux follows the source system's flow: the nodes are taken offline in
    HPC Pack (Set-HpcNodeState), moved to the Linux cluster, then restarted
    (Restart-HpcNode) so they network-boot Linux.

    Setup (key, host key pinning): "From the Windows head" in README.md.

.EXAMPLE
    .\Switch-ClusterNode.ps1 -Nodes 'umu[18-19]' -Operation ToLinux -LinuxHead um64
.EXAMPLE
    .\Switch-ClusterNode.ps1 -Operation Status -LinuxHead um64
#>
[CmdletBinding()]
param(
    # Node names or node-switch ranges: umu18,umu19 or 'umu[18-23]'.
    [string[]]$Nodes = @(),

    [Parameter(Mandatory = $true)]
    [ValidateSet('ToLinux', 'ToWindows', 'Mask', 'Unmask', 'Status', 'Reboot')]
    [string]$Operation,

    # The Linux head node running "node-switch serve".
    [string]$LinuxHead = $env:NODE_SWITCH_HEAD,
    [int]$Port = 2222,
    # Any name: node-switch identifies the key, not the user.
    [string]$User = 'node-switch',
    # RSA key in PEM form (ssh-keygen -t rsa -b 4096 -m PEM), registered on
    # the Linux head with: node-switch ssh-key add FILE.pub --role operate
    [string]$KeyFile = (Join-Path $env:USERPROFILE '.ssh\node-switch_rsa'),

    [string]$LinuxCluster = 'linux',
    [string]$WindowsCluster = 'windows',
    [string]$Reason = "Switch-ClusterNode $Operation by $env:USERDOMAIN\$env:USERNAME"
)

$ErrorActionPreference = 'Stop'
Import-Module Posh-SSH

# The command sent for each operation. {range}, {linux}, {windows} and
# {reason} are replaced by single-quoted words: the front door splits the
# line like a POSIX shell would, without running one.
$Commands = @{
    ToLinuxPlan = 'move {range} --to {linux} --dry-run --json'
    ToLinux     = 'move {range} --to {linux} --reason {reason} --json'
    ToWindows   = 'move {range} --to {windows} --reason {reason} --json'
    Mask        = 'mask {range} --reason {reason} --json'
    Unmask      = 'unmask {range} --reason {reason} --json'
    Status      = 'status --json'
    Reboot      = 'reboot {range} --json'
}

function Format-Word([string]$Word) {
    "'" + ($Word -replace "'", "'\''") + "'"
}

function Get-NodeSwitchLine([string]$Name) {
    $line = $Commands[$Name]
    $line = $line.Replace('{range}', (Format-Word ($Nodes -join ',')))
    $line = $line.Replace('{linux}', (Format-Word $LinuxCluster))
    $line = $line.Replace('{windows}', (Format-Word $WindowsCluster))
    $line.Replace('{reason}', (Format-Word $Reason))
}

function Invoke-NodeSwitch($Session, [string]$Name) {
    $command = Get-NodeSwitchLine $Name
    Write-Verbose "node-switch $command"
    $r = Invoke-SSHCommand -SSHSession $Session -Command $command -TimeOut 900
    if ($r.ExitStatus -ne 0) {
        # A reboot that failed on some nodes still reports every node.
        if ($Name -eq 'Reboot' -and $r.Output) {
            (($r.Output -join "`n") | ConvertFrom-Json).results |
                ForEach-Object { Write-Host ("{0}: {1} {2}" -f $_.node, $_.status, $_.detail) }
        }
        $msg = ($r.Error | Out-String).Trim()
        if (-not $msg) { $msg = ($r.Output | Out-String).Trim() }
        throw "node-switch $command failed (exit $($r.ExitStatus)): $msg"
    }
    ($r.Output -join "`n") | ConvertFrom-Json
}

if (-not $LinuxHead) { throw 'Name the Linux head node: -LinuxHead HOST (or set NODE_SWITCH_HEAD).' }
if ($Operation -ne 'Status' -and $Nodes.Count -eq 0) { throw "-Operation $Operation needs -Nodes." }
if (-not (Test-Path $KeyFile)) { throw "Key file $KeyFile not found; see "From the Windows head" in README.md." }

$noPassword = New-Object System.Security.SecureString
$cred = New-Object System.Management.Automation.PSCredential($User, $noPassword)
# -ErrorOnUntrusted: a head node whose host key was not pinned with
# New-SSHTrustedHost is refused, never trusted on first use.
$session = New-SSHSession -ComputerName $LinuxHead -Port $Port -Credential $cred -KeyFile $KeyFile -ErrorOnUntrusted
try {
    switch ($Operation) {
        'ToLinux' {
            # Which nodes will actually move (ranges expanded, nodes already
            # in Linux left out), before HPC Pack is touched.
            $plan = Invoke-NodeSwitch $session 'ToLinuxPlan'
            $names = @($plan.nodes)
            Import-Module HPC -ErrorAction SilentlyContinue
            Add-PSSnapin Microsoft.HPC -ErrorAction SilentlyContinue
            foreach ($n in $names) { Set-HpcNodeState -Name $n -State Offline | Out-Null }
            $moved = Invoke-NodeSwitch $session 'ToLinux'
            foreach ($n in @($moved.nodes)) { Restart-HpcNode -Name $n -Confirm:$false | Out-Null }
            "moved $($moved.nodes -join ',') from $($moved.from) to $($moved.to) (logbook #$($moved.event)); restarting them into Linux"
        }
        'ToWindows' {
            $moved = Invoke-NodeSwitch $session 'ToWindows'
            "moved $($moved.nodes -join ',') from $($moved.from) to $($moved.to) (logbook #$($moved.event)); they boot Windows at their next reboot"
        }
        'Mask' {
            $r = Invoke-NodeSwitch $session 'Mask'
            "masked $($r.nodes -join ','): the Linux head ignores them; deploy them from this head"
        }
        'Unmask' {
            $r = Invoke-NodeSwitch $session 'Unmask'
            "unmasked $($r.nodes -join ',')"
        }
        'Status' {
            $s = Invoke-NodeSwitch $session 'Status'
            foreach ($c in $s.clusters) {
                [pscustomobject]@{ Cluster = $c.name; Kind = $c.kind; Nodes = $c.range }
            }
            if ($s.masked.Count -gt 0) {
                [pscustomobject]@{ Cluster = '(masked)'; Kind = ''; Nodes = ($s.masked -join ',') }
            }
        }
        'Reboot' {
            $r = Invoke-NodeSwitch $session 'Reboot'
            $r.results | ForEach-Object { [pscustomobject]@{ Node = $_.node; Result = $_.status; Detail = $_.detail } }
        }
    }
}
finally {
    Remove-SSHSession -SSHSession $session | Out-Null
}
