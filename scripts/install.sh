#!/usr/bin/env bash
# Installs kedge as a systemd service: the binary to /usr/local/bin and a unit
# that lets containers outlive the agent (Delegate=yes, KillMode=process).
# Usage: scripts/install.sh [path/to/kedge]
set -euo pipefail
bin=${1:-./kedge}
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
[ -x "$bin" ] || { echo "install.sh: no kedge binary at $bin (build it: CGO_ENABLED=0 go build -o kedge .)" >&2; exit 1; }
install -m 0755 "$bin" /usr/local/bin/kedge.new
mv -f /usr/local/bin/kedge.new /usr/local/bin/kedge   # atomic: running supervisors keep their copy
install -d -m 0755 /etc/kedge /var/lib/kedge
cat > /etc/systemd/system/kedge.service <<'UNIT'
[Unit]
Description=Kedge agent (container engine and cluster peer)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/kedge agent
Restart=always
RestartSec=2
# Containers belong to their supervisors, not to the agent's process: stopping
# or upgrading the agent must not kill them.
KillMode=process
Delegate=yes
LimitNOFILE=1048576
TasksMax=infinity
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now kedge.service
echo "kedge installed; status: systemctl status kedge; try: kedge run --rm busybox echo hi"
