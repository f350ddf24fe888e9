//go:build windows

package pin

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The PIN window is plain Win32: a description, a highlighted warning,
// one or two masked fields and two buttons. zenity's password box has room
// for one line of text only, and a PIN prompt must say who asks, for what,
// on which card and reader, and how many tries are left.

var (
	user32 = windows.NewLazySystemDLL("user32.dll")
	gdi32  = windows.NewLazySystemDLL("gdi32.dll")

	procRegisterClassEx     = user32.NewProc("RegisterClassExW")
	procCreateWindowEx      = user32.NewProc("CreateWindowExW")
	procDefWindowProc       = user32.NewProc("DefWindowProcW")
	procDestroyWindow       = user32.NewProc("DestroyWindow")
	procGetMessage          = user32.NewProc("GetMessageW")
	procIsDialogMessage     = user32.NewProc("IsDialogMessageW")
	procTranslateMessage    = user32.NewProc("TranslateMessage")
	procDispatchMessage     = user32.NewProc("DispatchMessageW")
	procPostQuitMessage     = user32.NewProc("PostQuitMessage")
	procPostMessage         = user32.NewProc("PostMessageW")
	procSendMessage         = user32.NewProc("SendMessageW")
	procShowWindow          = user32.NewProc("ShowWindow")
	procSetForegroundWindow = user32.NewProc("SetForegroundWindow")
	procSetFocus            = user32.NewProc("SetFocus")
	procGetWindowTextLength = user32.NewProc("GetWindowTextLengthW")
	procGetWindowText       = user32.NewProc("GetWindowTextW")
	procSetWindowText       = user32.NewProc("SetWindowTextW")
	procGetSystemMetrics    = user32.NewProc("GetSystemMetrics")
	procAdjustWindowRectEx  = user32.NewProc("AdjustWindowRectEx")
	procGetDC               = user32.NewProc("GetDC")
	procReleaseDC           = user32.NewProc("ReleaseDC")
	procDrawText            = user32.NewProc("DrawTextW")
	procLoadCursor          = user32.NewProc("LoadCursorW")
	procGetSysColor         = user32.NewProc("GetSysColor")
	procGetSysColorBrush    = user32.NewProc("GetSysColorBrush")
	procGetStockObject      = gdi32.NewProc("GetStockObject")
	procSelectObject        = gdi32.NewProc("SelectObject")
	procSetTextColor        = gdi32.NewProc("SetTextColor")
	procSetBkColor          = gdi32.NewProc("SetBkColor")
)

const (
	wmDestroy         = 0x0002
	wmClose           = 0x0010
	wmSetFont         = 0x0030
	wmCommand         = 0x0111
	wmCtlColorStatic  = 0x0138
	wsOverlapped      = 0x00000000
	wsCaption         = 0x00C00000
	wsSysMenu         = 0x00080000
	wsChild           = 0x40000000
	wsVisible         = 0x10000000
	wsTabStop         = 0x00010000
	wsExTopmost       = 0x00000008
	wsExDlgModalFrame = 0x00000001
	wsExControlParent = 0x00010000
	wsExClientEdge    = 0x00000200
	esPassword        = 0x0020
	esAutoHScroll     = 0x0080
	bsDefPushButton   = 0x0001
	ssNoPrefix        = 0x0080
	swShow            = 5
	idOK              = 1
	idCancel          = 2
	idPIN             = 101
	idRepeat          = 102
	colorBtnFace      = 15
	defaultGUIFont    = 17
	smCXScreen        = 0
	smCYScreen        = 1
	dtWordBreak       = 0x0010
	dtCalcRect        = 0x0400
	dtNoPrefix        = 0x0800
	idcArrow          = 32512
)

type wndClassEx struct {
	size       uint32
	style      uint32
	wndProc    uintptr
	clsExtra   int32
	wndExtra   int32
	instance   windows.Handle
	icon       windows.Handle
	cursor     windows.Handle
	background windows.Handle
	menuName   *uint16
	className  *uint16
	iconSm     windows.Handle
}

type winMsg struct {
	hwnd    uintptr
	message uint32
	wParam  uintptr
	lParam  uintptr
	time    uint32
	pt      struct{ x, y int32 }
	private uint32
}

type winRect struct{ left, top, right, bottom int32 }

// pinWindow is one open PIN dialog; windows maps its handle to it for
// the window procedure.
type pinWindow struct {
	p           Prompt
	hwnd        uintptr
	pin, repeat uintptr // the edit controls
	warning     uintptr // the warning line, or 0
	pinOut      string
	ok          bool
}

var (
	classOnce sync.Once
	classErr  error
	className = windows.StringToUTF16Ptr("cardbridge.PIN")
	windowsMu sync.Mutex
	openWins  = map[uintptr]*pinWindow{}
)

func registerClass() error {
	classOnce.Do(func() {
		cursor, _, _ := procLoadCursor.Call(0, idcArrow)
		brush, _, _ := procGetSysColorBrush.Call(colorBtnFace)
		wc := wndClassEx{
			wndProc:    windows.NewCallback(wndProc),
			cursor:     windows.Handle(cursor),
			background: windows.Handle(brush),
			className:  className,
		}
		wc.size = uint32(unsafe.Sizeof(wc))
		var mod windows.Handle
		if err := windows.GetModuleHandleEx(0, nil, &mod); err != nil {
			classErr = err
			return
		}
		wc.instance = mod
		if r, _, err := procRegisterClassEx.Call(uintptr(unsafe.Pointer(&wc))); r == 0 {
			classErr = fmt.Errorf("register window class: %w", err)
		}
	})
	return classErr
}

// askPIN shows the PIN window and waits for it. The window lives on one
// locked OS thread: Win32 delivers a window's messages to the thread that
// made it.
func askPIN(ctx context.Context, p Prompt) (string, error) {
	type result struct {
		pin string
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pin, err := runPINWindow(ctx, p)
		done <- result{pin, err}
	}()
	r := <-done
	if ctx.Err() != nil {
		return "", ctxErr(ctx)
	}
	return r.pin, r.err
}

func runPINWindow(ctx context.Context, p Prompt) (string, error) {
	if err := registerClass(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	w := &pinWindow{p: p}
	if err := w.create(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	stop := context.AfterFunc(ctx, func() { procPostMessage.Call(w.hwnd, wmClose, 0, 0) })
	defer stop()
	var m winMsg
	for {
		r, _, _ := procGetMessage.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0)
		if int32(r) <= 0 {
			break
		}
		// IsDialogMessage gives the window Tab, Enter (OK) and Esc
		// (Cancel), as in a dialog box.
		if d, _, _ := procIsDialogMessage.Call(w.hwnd, uintptr(unsafe.Pointer(&m))); d != 0 {
			continue
		}
		procTranslateMessage.Call(uintptr(unsafe.Pointer(&m)))
		procDispatchMessage.Call(uintptr(unsafe.Pointer(&m)))
	}
	if !w.ok {
		return "", ErrCancelled
	}
	return w.pinOut, nil
}

func (w *pinWindow) create() error {
	const width, margin, labelW, rowH, btnW, btnH = 460, 14, 110, 24, 90, 28
	font, _, _ := procGetStockObject.Call(defaultGUIFont)
	inner := int32(width - 2*margin)
	desc := dialogText(w.p.Description)
	descH := textHeight(font, desc, inner)
	warnH := int32(0)
	if w.p.Warning != "" || w.p.Repeat != "" {
		warnH = textHeight(font, dialogText(orDefault(w.p.Warning, "The PINs do not match")), inner)
	}
	y := int32(margin)
	type ctl struct {
		class, text string
		style, ex   uint32
		x, y, w, h  int32
		id          uintptr
		out         *uintptr
	}
	ctls := []ctl{{class: "STATIC", text: desc, style: ssNoPrefix, x: margin, y: y, w: inner, h: descH}}
	y += descH + 10
	if warnH > 0 {
		ctls = append(ctls, ctl{class: "STATIC", text: dialogText(w.p.Warning), style: ssNoPrefix, x: margin, y: y, w: inner, h: warnH, out: &w.warning})
		y += warnH + 10
	}
	addField := func(label string, id uintptr, out *uintptr) {
		ctls = append(ctls,
			ctl{class: "STATIC", text: label, style: ssNoPrefix, x: margin, y: y + 4, w: labelW, h: 18},
			ctl{class: "EDIT", style: wsTabStop | esPassword | esAutoHScroll, ex: wsExClientEdge, x: margin + labelW, y: y, w: inner - labelW, h: rowH, id: id, out: out})
		y += rowH + 8
	}
	addField(orDefault(w.p.Label, "PIN:"), idPIN, &w.pin)
	if w.p.Repeat != "" {
		addField(w.p.Repeat, idRepeat, &w.repeat)
	}
	y += 6
	ctls = append(ctls,
		ctl{class: "BUTTON", text: orDefault(w.p.OK, "OK"), style: wsTabStop | bsDefPushButton, x: width - margin - 2*btnW - 8, y: y, w: btnW, h: btnH, id: idOK},
		ctl{class: "BUTTON", text: orDefault(w.p.Cancel, "Cancel"), style: wsTabStop, x: width - margin - btnW, y: y, w: btnW, h: btnH, id: idCancel})
	height := y + btnH + margin

	style := uint32(wsOverlapped | wsCaption | wsSysMenu)
	ex := uint32(wsExTopmost | wsExDlgModalFrame | wsExControlParent)
	r := winRect{0, 0, width, height}
	procAdjustWindowRectEx.Call(uintptr(unsafe.Pointer(&r)), uintptr(style), 0, uintptr(ex))
	ww, wh := r.right-r.left, r.bottom-r.top
	sw, _, _ := procGetSystemMetrics.Call(smCXScreen)
	sh, _, _ := procGetSystemMetrics.Call(smCYScreen)
	x, wy := (int32(sw)-ww)/2, (int32(sh)-wh)/3
	title := windows.StringToUTF16Ptr(orDefault(w.p.Title, "cardbridge"))
	hwnd, _, err := procCreateWindowEx.Call(uintptr(ex), uintptr(unsafe.Pointer(className)), uintptr(unsafe.Pointer(title)),
		uintptr(style), uintptr(x), uintptr(wy), uintptr(ww), uintptr(wh), 0, 0, 0, 0)
	if hwnd == 0 {
		return fmt.Errorf("create window: %w", err)
	}
	w.hwnd = hwnd
	windowsMu.Lock()
	openWins[hwnd] = w
	windowsMu.Unlock()
	for _, c := range ctls {
		h, _, err := procCreateWindowEx.Call(uintptr(c.ex), uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(c.class))),
			uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(c.text))), uintptr(wsChild|wsVisible|c.style),
			uintptr(c.x), uintptr(c.y), uintptr(c.w), uintptr(c.h), hwnd, c.id, 0, 0)
		if h == 0 {
			procDestroyWindow.Call(hwnd)
			return fmt.Errorf("create %s control: %w", c.class, err)
		}
		procSendMessage.Call(h, wmSetFont, font, 1)
		if c.out != nil {
			*c.out = h
		}
	}
	if w.p.Warning == "" && w.warning != 0 {
		procShowWindow.Call(w.warning, 0) // kept for "The PINs do not match"
	}
	procShowWindow.Call(hwnd, swShow)
	procSetForegroundWindow.Call(hwnd)
	procSetFocus.Call(w.pin)
	return nil
}

// textHeight is the height text needs, wrapped at width, in font.
func textHeight(font uintptr, text string, width int32) int32 {
	dc, _, _ := procGetDC.Call(0)
	defer procReleaseDC.Call(0, dc)
	old, _, _ := procSelectObject.Call(dc, font)
	defer procSelectObject.Call(dc, old)
	r := winRect{0, 0, width, 0}
	s := windows.StringToUTF16(text)
	procDrawText.Call(dc, uintptr(unsafe.Pointer(&s[0])), uintptr(len(s)-1), uintptr(unsafe.Pointer(&r)), dtCalcRect|dtWordBreak|dtNoPrefix)
	return r.bottom - r.top + 4
}

func wndProc(hwnd, msg, wParam, lParam uintptr) uintptr {
	windowsMu.Lock()
	w := openWins[hwnd]
	windowsMu.Unlock()
	if w == nil {
		r, _, _ := procDefWindowProc.Call(hwnd, msg, wParam, lParam)
		return r
	}
	switch msg {
	case wmCommand:
		switch wParam & 0xffff {
		case idOK:
			w.submit()
			return 0
		case idCancel:
			procDestroyWindow.Call(hwnd)
			return 0
		}
	case wmCtlColorStatic:
		if lParam == w.warning && w.warning != 0 {
			// The warning in dark red on the dialog's own background.
			face, _, _ := procGetSysColor.Call(colorBtnFace)
			procSetTextColor.Call(wParam, 0x0000a0)
			procSetBkColor.Call(wParam, face)
			brush, _, _ := procGetSysColorBrush.Call(colorBtnFace)
			return brush
		}
	case wmClose:
		procDestroyWindow.Call(hwnd)
		return 0
	case wmDestroy:
		windowsMu.Lock()
		delete(openWins, hwnd)
		windowsMu.Unlock()
		procPostQuitMessage.Call(0)
		return 0
	}
	r, _, _ := procDefWindowProc.Call(hwnd, msg, wParam, lParam)
	return r
}

// submit takes the PIN; for a new PIN both fields must agree, else the
// window says so and asks again.
func (w *pinWindow) submit() {
	pin := editText(w.pin)
	if w.repeat != 0 && editText(w.repeat) != pin {
		procSetWindowText.Call(w.pin, uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(""))))
		procSetWindowText.Call(w.repeat, uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(""))))
		procSetWindowText.Call(w.warning, uintptr(unsafe.Pointer(windows.StringToUTF16Ptr("The PINs do not match"))))
		procShowWindow.Call(w.warning, swShow)
		procSetFocus.Call(w.pin)
		return
	}
	w.pinOut, w.ok = pin, true
	procDestroyWindow.Call(w.hwnd)
}

// editText reads an edit control and wipes the buffer it used.
func editText(h uintptr) string {
	n, _, _ := procGetWindowTextLength.Call(h)
	buf := make([]uint16, n+1)
	got, _, _ := procGetWindowText.Call(h, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	s := windows.UTF16ToString(buf[:got])
	clear(buf)
	return s
}
