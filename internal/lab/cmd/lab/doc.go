// Command lab drives a kedge lab (package kedge/internal/lab) from the
// shell; scripts/lab.sh builds and runs it. The lab's state lives in a
// directory (--dir, $KEDGE_LAB_DIR, default /tmp/kedge-lab), so every
// command works from any shell. Linux only; run as root.
//
//	lab up N [--binary PATH] [--subnet CIDR] [--no-agents] [-- AGENT-ARGS...]
//	lab down | ls | heal-partition
//	lab gc (closes the labs that dead test processes left in $TMPDIR)
//	lab start H [AGENT-ARGS...] | stop H
//	lab kill H [--supervisors | --all]
//	lab pause H | resume H | cut H | heal H | ip H | logs H
//	lab partition GROUP... (a group is host numbers: 1,2)
//	lab exec H CMD [ARGS...] ("kedge" runs the lab's binary)
//
// H is a host number (1), name (h1) or namespace name. AGENT-ARGS may use
// {name}, {n}, {ip}, {dir} and {socket}, expanded per host.
package main
