package messaging

import (
	"bytes"
	"io"
)

// programMagic are the first bytes of programs: a Windows executable
// renamed report.pdf passes the extension check, so the content is checked
// too. The list is of formats that run when opened, not of every format.
var programMagic = [][]byte{
	[]byte("MZ"),             // Windows and DOS executables (PE)
	[]byte("\x7fELF"),        // Linux and Unix executables
	{0xfe, 0xed, 0xfa, 0xce}, // Mach-O 32-bit
	{0xfe, 0xed, 0xfa, 0xcf}, // Mach-O 64-bit
	{0xce, 0xfa, 0xed, 0xfe}, // Mach-O 32-bit, little-endian
	{0xcf, 0xfa, 0xed, 0xfe}, // Mach-O 64-bit, little-endian
	{0xca, 0xfe, 0xba, 0xbe}, // Mach-O universal binary
	[]byte("#!"),             // scripts with an interpreter line
}

// sniffLen is the longest magic above.
const sniffLen = 4

// RefusePrograms passes r through unchanged, except that a file whose first
// bytes are a program's makes the first Read fail with ErrFileRefused. The
// stores wrap every attachment's bytes in it, so the check holds for the
// web form, emailed replies and anything added later.
func RefusePrograms(r io.Reader) io.Reader { return &sniffer{r: r} }

type sniffer struct {
	r      io.Reader
	head   []byte
	sniffd bool
}

func (s *sniffer) Read(p []byte) (int, error) {
	if !s.sniffd {
		s.sniffd = true
		head := make([]byte, sniffLen)
		n, err := io.ReadFull(s.r, head)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return 0, err
		}
		s.head = head[:n]
		if isProgram(s.head) {
			return 0, ErrFileRefused
		}
	}
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	return s.r.Read(p)
}

func isProgram(head []byte) bool {
	for _, m := range programMagic {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return false
}
