// Package archtest checks the shape of the code base as tests: which package
// may import which (ARCHITECTURE.md's one-way dependencies) and that every
// package has a doc comment. It has no code of its own.
package archtest
