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

	"tvs/tests/harness"
)

// browser is a headless Chromium tab that records what went wrong in it:
// failed requests, HTTP errors, console errors and warnings, exceptions.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
	loaded   []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no chromium installed (apt-get install chromium); .ci/run installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.WindowSize(1100, 800),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	listen := func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventLoadingFailed:
			b.problems = append(b.problems, "request failed: "+e.ErrorText)
		case *network.EventResponseReceived:
			b.loaded = append(b.loaded, e.Response.URL)
			if e.Response.Status >= 400 {
				b.problems = append(b.problems, e.Response.URL+": "+e.Response.StatusText)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				b.problems = append(b.problems, "console "+string(e.Type))
			}
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, "exception: "+e.ExceptionDetails.Text)
		}
	}
	// Listen starts the browser; the events of the tab go to listen.
	if err := chromedp.Listen(ctx, listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// screenshot takes the whole page, and keeps it as name in
// TVS_SCREENSHOT_DIR when that is set.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("TVS_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", filepath.Join(dir, name), len(shot))
}

// check fails the test for anything that went wrong in the tab.
func (b *browser) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("chromium loaded %d resources", len(b.loaded))
	if len(b.problems) > 0 {
		t.Errorf("the browser saw problems: %v", b.problems)
	}
}

// The page in headless Chromium, through entry: HOST and COUNT are shown,
// the CSS and images load, nothing fails and the console stays clean.
func TestPageInABrowser(t *testing.T) {
	s := sharedStack(t)
	b := newBrowser(t)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(s.entry+"/"), chromedp.WaitVisible("main")); err != nil {
		t.Fatalf("browser: load %s: %v", s.entry, err)
	}
	text, err := chromedp.Run(b.ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	cssRules, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.styleSheets.length ? document.styleSheets[0].cssRules.length : 0`))
	if err != nil {
		t.Fatal(err)
	}
	logoLoaded, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { const i = document.querySelector('header img'); return i.complete && i.naturalWidth > 0 })()`))
	if err != nil {
		t.Fatal(err)
	}
	b.screenshot(t, "page.png")
	if !strings.Contains(text, "HOST:") || !strings.Contains(text, "ADDRESSES:") || !countShown.MatchString(text) {
		t.Errorf("page text lacks HOST, ADDRESSES or a COUNT that is a number (a degraded page shows ----):\n%s", text)
	}
	if cssRules == 0 {
		t.Errorf("the stylesheet did not load (0 CSS rules)")
	}
	if !logoLoaded {
		t.Errorf("the logo image did not load")
	}
	b.check(t)
}

// The live view while a load runs over 3 replicas: the page, updating
// itself, lists the 3 replicas with their visits and a rate, and says
// which replica served it.
func TestLiveViewInABrowser(t *testing.T) {
	s := sharedStack(t)
	stop := harness.Steady(harness.FreshClient(), s.entry+"/", 40, 2*time.Minute)
	defer stop()
	b := newBrowser(t)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(s.entry+"/live"), chromedp.WaitVisible("#replicas")); err != nil {
		t.Fatalf("browser: load %s/live: %v", s.entry, err)
	}
	// Rows with visits and a rate appear as the script polls, once a second.
	var rows []map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		rows, err = chromedp.Run(b.ctx, chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll("tr.replica")].map(tr => ({
			host: tr.dataset.host, visits: tr.querySelector(".visits").textContent, rps: tr.querySelector(".rps").textContent}))`))
		if err != nil {
			t.Fatal(err)
		}
		busy := 0
		for _, r := range rows {
			if r["visits"] != "0" && r["rps"] != "0.0" {
				busy++
			}
		}
		if busy == 3 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	served, err := chromedp.Run(b.ctx, chromedp.Text("#served-by"))
	if err != nil {
		t.Fatal(err)
	}
	b.screenshot(t, "live.png")
	r := stop()
	t.Logf("live view served by %s, rows %v; load %d sent, %d failed", served, rows, r.Sent, len(r.Failed))
	if len(rows) != 3 {
		t.Fatalf("the live view lists %d replicas, want 3: %v", len(rows), rows)
	}
	for _, row := range rows {
		if row["visits"] == "0" || row["rps"] == "0.0" {
			t.Errorf("replica %s shows no visits or no rate: %v", row["host"], row)
		}
	}
	if served == "" {
		t.Errorf("the live view does not say which replica served it")
	}
	b.check(t)
}
