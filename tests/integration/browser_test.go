package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// checkPageInBrowser loads the page in headless Chromium: HOST and COUNT are
// shown, the CSS and images load, nothing fails and the console stays clean.
func checkPageInBrowser(t *testing.T, base string) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium installed (apt-get install chromium); .ci/run installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var problems, loaded []string
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventLoadingFailed:
			problems = append(problems, "request failed: "+e.ErrorText)
		case *network.EventResponseReceived:
			loaded = append(loaded, e.Response.URL)
			if e.Response.Status >= 400 {
				problems = append(problems, e.Response.URL+": "+e.Response.StatusText)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console "+string(e.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		}
	}
	// Listen starts the browser; the events of the tab go to listen.
	if err := chromedp.Listen(ctx, listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible("main")); err != nil {
		t.Fatalf("browser: load %s: %v", base, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	cssRules, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.styleSheets.length ? document.styleSheets[0].cssRules.length : 0`))
	if err != nil {
		t.Fatal(err)
	}
	logoLoaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const i = document.querySelector('header img'); return i.complete && i.naturalWidth > 0 })()`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(t.TempDir(), "page.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("chromium loaded %d resources: %v; screenshot %s (%d bytes)", len(loaded), loaded, shotPath, len(shot))
	if !strings.Contains(text, "HOST:") || !strings.Contains(text, "COUNT:") {
		t.Errorf("page text lacks HOST or COUNT:\n%s", text)
	}
	if cssRules == 0 {
		t.Errorf("the stylesheet did not load (0 CSS rules)")
	}
	if !logoLoaded {
		t.Errorf("the logo image did not load")
	}
	if len(problems) > 0 {
		t.Errorf("the browser saw problems: %v", problems)
	}
	if dir := os.Getenv("TVS_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "page.png"), shot, 0o644)
	}
}
