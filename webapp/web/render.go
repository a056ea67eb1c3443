package web

import (
	"bytes"
	"fmt"
	"html"
	"io/fs"
	"strings"
)

// The pages are HTML files in templates/ with holes and no logic: {{name}}
// is filled with text, HTML-escaped; {{{name}}} with HTML the handler built
// from other parts of the file. A file holds its page, then named parts,
// each after a line <!-- part: name -->, that the handler puts in holes
// (the table's rows, the storage warning). Which part goes where is decided
// in Go.
//
// Why not html/template: its reflection makes the linker keep every
// exported method of every type the webapp links, 2.4 MB of a 10 MB image
// that must also hold the metrics library, and these pages need none of
// its logic. Every value shown comes from a hole, and every text hole is
// escaped.

// page is one template file: the page and its named parts.
type page struct {
	name  string
	parts map[string][]piece // "" is the page itself
}

// piece is literal HTML, or a hole.
type piece struct {
	text string // the HTML, or the hole's name
	hole bool
	raw  bool // {{{name}}}: filled with HTML, not escaped
}

// partMarker starts a named part of a template file.
const partMarker = "<!-- part: "

// mustParse reads templates/name; a template that does not parse is a bug
// of this program, found by its tests.
func mustParse(fsys fs.FS, name string) *page {
	data, err := fs.ReadFile(fsys, "templates/"+name)
	if err != nil {
		panic(err)
	}
	p := &page{name: name, parts: map[string][]piece{}}
	part, text := "", string(data)
	for {
		before, after, found := strings.Cut(text, partMarker)
		pieces, err := parsePieces(before)
		if err != nil {
			panic(fmt.Sprintf("templates/%s, part %q: %v", name, part, err))
		}
		p.parts[part] = pieces
		if !found {
			return p
		}
		next, rest, ok := strings.Cut(after, " -->\n")
		if !ok {
			panic(fmt.Sprintf("templates/%s: %s... needs its name and -->", name, partMarker))
		}
		part, text = next, rest
	}
}

func parsePieces(text string) ([]piece, error) {
	var out []piece
	for text != "" {
		i := strings.Index(text, "{{")
		if i < 0 {
			out = append(out, piece{text: text})
			break
		}
		if i > 0 {
			out = append(out, piece{text: text[:i]})
		}
		text = text[i:]
		open, close := "{{", "}}"
		if strings.HasPrefix(text, "{{{") {
			open, close = "{{{", "}}}"
		}
		end := strings.Index(text, close)
		if end < 0 {
			return nil, fmt.Errorf("%q is not closed", text[:min(len(text), 20)])
		}
		name := text[len(open):end]
		if name == "" || strings.ContainsAny(name, "{} ") {
			return nil, fmt.Errorf("bad hole %q", text[:end+len(close)])
		}
		out = append(out, piece{text: name, hole: true, raw: open == "{{{"})
		text = text[end+len(close):]
	}
	return out, nil
}

// render writes a part ("" for the page) with its holes filled from vals.
// A hole with no value is an error: a typo in a template or a handler.
func (p *page) render(b *bytes.Buffer, part string, vals map[string]string) error {
	pieces, ok := p.parts[part]
	if !ok {
		return fmt.Errorf("templates/%s has no part %q", p.name, part)
	}
	for _, pc := range pieces {
		switch {
		case !pc.hole:
			b.WriteString(pc.text)
		default:
			v, ok := vals[pc.text]
			if !ok {
				return fmt.Errorf("templates/%s, part %q: no value for {{%s}}", p.name, part, pc.text)
			}
			if !pc.raw {
				v = html.EscapeString(v)
			}
			b.WriteString(v)
		}
	}
	return nil
}

// fragment renders a part to a string, for a {{{hole}}} of another.
func (p *page) fragment(part string, vals map[string]string) (string, error) {
	var b bytes.Buffer
	err := p.render(&b, part, vals)
	return b.String(), err
}
