package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// unpackLimits bound one layer's extraction.
type unpackLimits struct {
	// MaxSize bounds the uncompressed stream and the bytes written.
	MaxSize int64
	// MaxEntries bounds the number of tar entries.
	MaxEntries int
}

// unpackResult describes an unpacked layer.
type unpackResult struct {
	// DiffID is the sha256 of the uncompressed tar stream.
	DiffID digest.Digest
	// Size is the length of the uncompressed tar stream.
	Size int64
	// Skipped counts entries neutralised by skipping (devices, unknown types).
	Skipped int
}

// diskReserve is the free space unpacking and importing leave on the filesystem.
const diskReserve = 64 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress detects gzip and zstd and returns the plain stream.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// isCompressed reports whether the start of a blob looks compressed.
func isCompressed(head []byte) bool {
	return bytes.HasPrefix(head, gzipMagic) || bytes.HasPrefix(head, zstdMagic)
}
