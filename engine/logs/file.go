package logs

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// fileReader is one open log file and the unfinished line read from it.
type fileReader struct {
	f        *os.File
	name     string
	info     os.FileInfo
	off      int64  // next byte to read
	pend     []byte // bytes after the last newline read
	skipping bool   // inside an over-long line: drop until its newline
}

func openLog(name string) (*fileReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat log %s: %w", name, err)
	}
	return &fileReader{f: f, name: name, info: st}, nil
}

// feed splits data into lines, joined with what was pending, and calls emit
// for each complete one (without its newline).
func (fr *fileReader) feed(data []byte, emit func([]byte) error) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !fr.skipping {
				fr.pend = append(fr.pend, data...)
				if len(fr.pend) > maxEncodedLine {
					fr.pend, fr.skipping = fr.pend[:0], true
				}
			}
			return nil
		}
		line := data[:i]
		data = data[i+1:]
		if fr.skipping {
			fr.skipping = false
			continue
		}
		if len(fr.pend) > 0 {
			fr.pend = append(fr.pend, line...)
			line = fr.pend
		}
		err := emit(line)
		fr.pend = fr.pend[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// tailStart finds where the last n complete lines of a file of the given size
// begin, reading backwards; found is how many complete lines that is (fewer
// than n when the file has fewer).
func tailStart(f io.ReaderAt, size int64, n int) (start int64, found int, err error) {
	const block = 32 * 1024
	buf := make([]byte, block)
	newlines := 0
	for end := size; end > 0; {
		begin := max(end-block, 0)
		chunk := buf[:end-begin]
		if _, err := f.ReadAt(chunk, begin); err != nil && err != io.EOF {
			return 0, 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				continue
			}
			newlines++
			if newlines == n+1 {
				return begin + int64(i) + 1, n, nil
			}
		}
		end = begin
	}
	return 0, newlines, nil
}
