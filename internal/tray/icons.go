package tray

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
)

// icon draws the tray icon: a card-shaped rounded square in the state's
// colour, so it reads at 16 px on any panel.
func icon(c color.RGBA) []byte {
	const size = 32
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			// A rounded rectangle 28x20, centred, with a lighter chip.
			dx := math.Max(math.Max(4-float64(x), float64(x)-27), 0)
			dy := math.Max(math.Max(8-float64(y), float64(y)-23), 0)
			if dx*dx+dy*dy > 9 || x < 2 || x > 29 || y < 6 || y > 25 {
				continue
			}
			px := c
			if x >= 7 && x <= 13 && y >= 12 && y <= 18 {
				px = color.RGBA{0xf5, 0xd0, 0x6b, 0xff} // the chip
			}
			img.Set(x, y, px)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

var (
	iconNoCard    = icon(color.RGBA{0x8a, 0x90, 0x9c, 0xff})
	iconReady     = icon(color.RGBA{0x1e, 0x8e, 0x3e, 0xff})
	iconBusy      = icon(color.RGBA{0x0b, 0x5f, 0xff, 0xff})
	iconAttention = icon(color.RGBA{0xe3, 0x74, 0x00, 0xff})
)
