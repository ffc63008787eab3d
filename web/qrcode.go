package web

import (
	"fmt"
	"image/color"
	"strings"

	"github.com/boombuler/barcode/qr"

	"github.com/healthnet/secureportal/templates/pages"
)

// qrQuiet is the blank margin a QR reader needs around the code, in modules.
const qrQuiet = 4

// qrCode draws text as a QR code: one SVG path of unit squares, drawn in the
// page itself (an image URL would need its own route to the secret, and the
// CSP allows no data: images).
func qrCode(text string) (pages.QRCode, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return pages.QRCode{}, fmt.Errorf("web: qr code: %w", err)
	}
	b := code.Bounds()
	var path strings.Builder
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if code.At(x, y) == color.Black {
				fmt.Fprintf(&path, "M%d %dh1v1h-1z", x-b.Min.X+qrQuiet, y-b.Min.Y+qrQuiet)
			}
		}
	}
	return pages.QRCode{Path: path.String(), Size: b.Dx() + 2*qrQuiet}, nil
}
