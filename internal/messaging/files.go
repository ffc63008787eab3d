package messaging

import (
	"mime"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameRunes caps a stored file name; longer names are cut, keeping the
// extension.
const maxNameRunes = 120

// CleanFilename makes an uploaded file's name safe to store and show: no
// directories (a browser may send "C:\fakepath\x"), no control or
// bidirectional-override characters (which can disguise "exe.pdf" as
// "fdp.exe"), no leading dots, at most 120 characters.
func CleanFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	var b strings.Builder
	for _, r := range name {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) ||
			unicode.Is(unicode.Cf, r) || r == '/' || r == '"' {
			continue
		}
		b.WriteRune(r)
	}
	name = strings.TrimLeft(strings.TrimSpace(b.String()), ".")
	if name == "" || name == "." {
		return "attachment"
	}
	if utf8.RuneCountInString(name) > maxNameRunes {
		ext := filepath.Ext(name)
		if utf8.RuneCountInString(ext) > 16 {
			ext = ""
		}
		runes := []rune(strings.TrimSuffix(name, ext))
		name = string(runes[:maxNameRunes-utf8.RuneCountInString(ext)]) + ext
	}
	return name
}

// refusedExtensions are programs and scripts: a secure channel that
// delivered them would be a malware channel with a trusted sender.
var refusedExtensions = map[string]bool{
	".exe": true, ".com": true, ".bat": true, ".cmd": true, ".scr": true, ".pif": true, ".msi": true, ".msp": true,
	".dll": true, ".cpl": true, ".jar": true, ".js": true, ".jse": true, ".vbs": true, ".vbe": true, ".wsf": true,
	".wsh": true, ".ps1": true, ".psm1": true, ".sh": true, ".app": true, ".hta": true, ".lnk": true, ".reg": true,
	".iso": true, ".img": true, ".apk": true, ".dmg": true,
}

// safeTypes are content types served as themselves (always as a download).
// Anything else, HTML and SVG included (they can carry script), is served as
// application/octet-stream.
var safeTypes = map[string]bool{
	"application/pdf": true, "image/png": true, "image/jpeg": true, "image/gif": true, "image/tiff": true,
	"text/plain": true, "text/csv": true, "application/zip": true,
	"application/msword": true, "application/vnd.ms-excel": true,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":       true,
	"application/rtf": true,
}

// CheckFile refuses executables and returns the content type to store,
// decided by the file's extension (the browser's claim is not trusted).
func CheckFile(name string) (contentType string, err error) {
	ext := strings.ToLower(filepath.Ext(name))
	if refusedExtensions[ext] {
		return "", ErrFileRefused
	}
	t, _, _ := mime.ParseMediaType(mime.TypeByExtension(ext))
	if safeTypes[t] {
		return t, nil
	}
	return "application/octet-stream", nil
}
