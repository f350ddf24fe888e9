package tray

import (
	"bytes"
	"encoding/binary"
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
// state's colour, so it reads at 16 px on any panel, with a white mark
// that tells the state by shape too. Without a card only the outline is
// drawn.
func drawIcon(c color.RGBA, mark string) *image.RGBA {
	const size = 32
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	inCard := func(x, y int, inset float64) bool {
		// A rounded rectangle 28x20, centred.
		dx := math.Max(math.Max(4+inset-float64(x), float64(x)-27+inset), 0)
		dy := math.Max(math.Max(8+inset-float64(y), float64(y)-23+inset), 0)
		r := math.Max(3-inset, 0)
		return dx*dx+dy*dy <= r*r+0.01 && float64(x) >= 2+inset && float64(x) <= 29-inset && float64(y) >= 6+inset && float64(y) <= 25-inset
	}
	white := color.RGBA{0xff, 0xff, 0xff, 0xff}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if !inCard(x, y, 0) {
				continue
			}
			if mark == "outline" && inCard(x, y, 2) {
				continue
			}
			px := c
			if mark != "outline" && x >= 6 && x <= 11 && y >= 11 && y <= 16 {
				px = color.RGBA{0xf5, 0xd0, 0x6b, 0xff} // the chip
			}
			if onMark(mark, x, y) {
				px = white
			}
			img.Set(x, y, px)
		}
	}
	return img
}

// onMark reports whether a pixel belongs to a state's mark, drawn on the
// card's right half.
func onMark(mark string, x, y int) bool {
	switch mark {
	case "tick": // two strokes, 2 px thick
		fx, fy := float64(x), float64(y)
		short := fx >= 15 && fx <= 19 && math.Abs((fy-16)-(fx-15)) <= 1.2
		long := fx >= 19 && fx <= 26 && math.Abs((fy-20)+(fx-19)*1.15) <= 1.2
		return short || long
	case "dots": // three dots
		for _, cx := range []int{16, 21, 26} {
			if (x-cx)*(x-cx)+(y-16)*(y-16) <= 3 {
				return true
			}
		}
	case "bang": // an exclamation mark
		return x >= 20 && x <= 22 && ((y >= 9 && y <= 18) || (y >= 21 && y <= 22))
	}
	return false
}

// TestIcons checks that the icon files are the drawn ones (PNG for
// panels, ICO for Windows) and that this system embeds its format.
func TestIcons(t *testing.T) {
	for _, ic := range []struct {
		name     string
		embedded []byte
		colour   color.RGBA
		mark     string
	}{
		{"nocard", iconNoCard, color.RGBA{0x8a, 0x90, 0x9c, 0xff}, "outline"},
		{"ready", iconReady, color.RGBA{0x1e, 0x8e, 0x3e, 0xff}, "tick"},
		{"busy", iconBusy, color.RGBA{0x0b, 0x5f, 0xff, 0xff}, "dots"},
		{"attention", iconAttention, color.RGBA{0xc2, 0x41, 0x0c, 0xff}, "bang"},
	} {
		want := drawIcon(ic.colour, ic.mark)
		pngFile := filepath.Join("icons", ic.name+".png")
		icoFile := filepath.Join("icons", ic.name+".ico")
		if *update {
			var b bytes.Buffer
			if err := png.Encode(&b, want); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pngFile, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(icoFile, encodeICO(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		pngBytes, err := os.ReadFile(pngFile)
		if err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(bytes.NewReader(pngBytes))
		if err != nil {
			t.Fatalf("%s: %v", pngFile, err)
		}
		if got.Bounds() != want.Bounds() {
			t.Fatalf("%s: bounds %v, want %v", pngFile, got.Bounds(), want.Bounds())
		}
		for y := 0; y < want.Bounds().Dy(); y++ {
			for x := 0; x < want.Bounds().Dx(); x++ {
				if r1, g1, b1, a1 := got.At(x, y).RGBA(); [4]uint32{r1, g1, b1, a1} != rgba(want.At(x, y)) {
					t.Fatalf("%s differs from the drawing at (%d,%d); run go test ./internal/tray -update", pngFile, x, y)
				}
			}
		}
		icoBytes, err := os.ReadFile(icoFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(icoBytes, encodeICO(want)) {
			t.Fatalf("%s differs from the drawing; run go test ./internal/tray -update", icoFile)
		}
		if own := map[string][]byte{".png": pngBytes, ".ico": icoBytes}[iconExt]; !bytes.Equal(ic.embedded, own) {
			t.Fatalf("the embedded %s icon is not %s", ic.name, ic.name+iconExt)
		}
	}
}

// encodeICO writes img as a one-image ICO of a 32-bit BMP, the form every
// Windows since XP loads: a BITMAPINFOHEADER of twice the height (colour
// rows, then the AND mask), rows bottom-up in BGRA.
func encodeICO(img *image.RGBA) []byte {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	maskRow := (w + 31) / 32 * 4
	size := 40 + w*h*4 + maskRow*h
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	le([3]uint16{0, 1, 1})                                  // ICONDIR: reserved, type icon, one image
	le([4]uint8{uint8(w), uint8(h), 0, 0})                  // ICONDIRENTRY: size, no palette
	le([2]uint16{1, 32})                                    // planes, bits per pixel
	le([2]uint32{uint32(size), 6 + 16})                     // bytes, offset
	le([3]int32{40, int32(w), int32(2 * h)})                // BITMAPINFOHEADER: size, width, height ×2
	le([2]uint16{1, 32})                                    // planes, bits per pixel
	le([6]uint32{0, uint32(w*h*4 + maskRow*h), 0, 0, 0, 0}) // BI_RGB, image size, the rest zero
	mask := make([]byte, maskRow*h)
	for y := h - 1; y >= 0; y-- {
		for x := 0; x < w; x++ {
			c := img.RGBAAt(x, y)
			b.Write([]byte{c.B, c.G, c.R, c.A})
			if c.A == 0 {
				row := h - 1 - y
				mask[row*maskRow+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	b.Write(mask)
	return b.Bytes()
}

func rgba(c color.Color) [4]uint32 {
	r, g, b, a := c.RGBA()
	return [4]uint32{r, g, b, a}
}
