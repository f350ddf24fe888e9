package tray

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "redraw the embedded tray icons")

// drawIcon draws the tray icon: a card-shaped rounded square in the
// state's colour, so it reads at 16 px on any panel.
func drawIcon(c color.RGBA) *image.RGBA {
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
	return img
}

// TestIcons checks that the embedded icons are the drawn ones and are
// PNGs a panel can decode.
func TestIcons(t *testing.T) {
	for _, ic := range []struct {
		file     string
		embedded []byte
		colour   color.RGBA
	}{
		{"nocard.png", iconNoCard, color.RGBA{0x8a, 0x90, 0x9c, 0xff}},
		{"ready.png", iconReady, color.RGBA{0x1e, 0x8e, 0x3e, 0xff}},
		{"busy.png", iconBusy, color.RGBA{0x0b, 0x5f, 0xff, 0xff}},
		{"attention.png", iconAttention, color.RGBA{0xe3, 0x74, 0x00, 0xff}},
	} {
		want := drawIcon(ic.colour)
		if *update {
			var b bytes.Buffer
			if err := png.Encode(&b, want); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("icons", ic.file), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := png.Decode(bytes.NewReader(ic.embedded))
		if err != nil {
			t.Fatalf("%s: %v", ic.file, err)
		}
		if got.Bounds() != want.Bounds() {
			t.Fatalf("%s: bounds %v, want %v", ic.file, got.Bounds(), want.Bounds())
		}
		for y := 0; y < want.Bounds().Dy(); y++ {
			for x := 0; x < want.Bounds().Dx(); x++ {
				if r1, g1, b1, a1 := got.At(x, y).RGBA(); [4]uint32{r1, g1, b1, a1} != rgba(want.At(x, y)) {
					t.Fatalf("%s differs from the drawing at (%d,%d); run go test ./internal/tray -update", ic.file, x, y)
				}
			}
		}
	}
}

func rgba(c color.Color) [4]uint32 {
	r, g, b, a := c.RGBA()
	return [4]uint32{r, g, b, a}
}
