package flame

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBrowser renders a flame graph in headless Chromium, when installed
// (apt-get install chromium), and checks the screenshot shows the boxes:
// pixels of the frame colours across the bottom row's width. Skips without
// a browser.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	browser := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no headless Chromium (apt-get install chromium)")
	}
	dir := t.TempDir()
	svg := filepath.Join(dir, "f.svg")
	f, err := os.Create(svg)
	if err != nil {
		t.Fatal(err)
	}
	if err := Render(f, []string{"dd;ksys_read;vfs_read 30", "cat;kernel_read;vfs_read 10"}, Options{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	shot := filepath.Join(dir, "f.png")
	cmd := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, "--window-size=1200,200", "file://"+svg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, out)
	}
	pf, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The "all" box spans x 10..1190 on the bottom row (y 40 + 3*16).
	y := padTop + 3*rowHeight + rowHeight/2
	warm := 0
	for x := 20; x < 1180; x += 10 {
		r, g, b, _ := img.At(x, y).RGBA()
		if r>>8 >= 200 && g>>8 >= 80 && b>>8 < 100 {
			warm++
		}
	}
	if warm < 100 {
		t.Errorf("the bottom box is not drawn across the graph: %d of 116 samples in the frame colours", warm)
	}
}
