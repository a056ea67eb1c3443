package web

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed templates
var templates embed.FS

//go:embed static
var static embed.FS

//go:embed quotes.txt
var quotesText string

// staticFiles returns what /files/ serves: the page's CSS and images.
func staticFiles() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is embedded above; this cannot fail
	}
	return sub
}

// loadQuotes returns the quotes, one per non-empty line.
func loadQuotes() []string {
	var qs []string
	for _, line := range strings.Split(quotesText, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			qs = append(qs, line)
		}
	}
	return qs
}
