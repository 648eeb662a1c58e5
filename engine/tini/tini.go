// Package tini is the tiny init that `kedge run --init` puts at pid 1 of a
// container, as Docker's --init does with tini: it runs the command as its
// child, forwards the signals it receives to it, reaps every zombie that the
// container's orphans leave, and exits with the command's status. The kedge
// binary is bind-mounted read-only into the container at Path and runs this
// when started under that name.
package tini

// Path is where the engine mounts the kedge binary inside the container.
const Path = "/sbin/kedge-init"

// Name is the base name the binary is run under inside the container.
const Name = "kedge-init"
