// Package docs checks that README.md and docs/ cannot rot silently: every
// relative link, file path and scripts/ command they name exists, and the
// configuration page names every variable the webapp and the compose files
// read, and none that nothing reads. It needs no Docker: it runs in
// scripts/test -short.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// root is the repository root.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// doc is one Markdown file: its path from the root, and its text.
type doc struct{ path, text string }

func docs(t *testing.T) []doc {
	t.Helper()
	paths := []string{"README.md"}
	more, _ := filepath.Glob(filepath.Join(root(), "docs", "*.md"))
	for _, p := range more {
		rel, _ := filepath.Rel(root(), p)
		paths = append(paths, rel)
	}
	var out []doc
	for _, p := range paths {
		data, err := os.ReadFile(filepath.Join(root(), p))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, doc{p, string(data)})
	}
	return out
}

// repoFiles lists every file of the repository, from the root, but .git's.
func repoFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root(), p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var link = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link goes to a file that exists.
func TestRelativeLinksExist(t *testing.T) {
	for _, d := range docs(t) {
		for _, m := range link.FindAllStringSubmatch(d.text, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(root(), filepath.Dir(d.path), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", d.path, m[1])
			}
		}
	}
}

var (
	code     = regexp.MustCompile("`([^`\n]+)`")
	pathLike = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_./-]*$`)
	// What a path in the docs ends with.
	extensions = []string{".yaml", ".yml", ".go", ".conf", ".json", ".md", ".svg", ".png", ".js", ".css",
		".html", ".txt", ".env", ".mod", ".sum", ".work", ".service", ".socket"}
	// Files that exist only once a command made them.
	generated = []string{"offline.env"}
)

// Every file path named in code spans exists: a path with a folder from
// the root (or the doc's folder), a bare file name somewhere in the tree.
func TestFilePathsExist(t *testing.T) {
	files := repoFiles(t)
	dirs := map[string]bool{}
	bases := map[string]bool{}
	for _, f := range files {
		bases[filepath.Base(f)] = true
		for d := filepath.Dir(f); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
			bases[filepath.Base(d)+"/"] = true
		}
	}
	for _, d := range docs(t) {
		for _, m := range code.FindAllStringSubmatch(d.text, -1) {
			for _, word := range strings.Fields(m[1]) {
				word = strings.TrimRight(word, ",;:)")
				if !pathLike.MatchString(word) || slices.Contains(generated, word) {
					continue
				}
				isDir := strings.HasSuffix(word, "/")
				hasExt := slices.ContainsFunc(extensions, func(e string) bool { return strings.HasSuffix(word, e) })
				if !isDir && !hasExt {
					continue
				}
				clean := strings.TrimSuffix(word, "/")
				switch {
				case isDir && (dirs[clean] || dirs[filepath.Join(filepath.Dir(d.path), clean)] || (!strings.Contains(clean, "/") && bases[word])):
				case !isDir && !strings.Contains(clean, "/") && bases[clean]:
				case !isDir && (exists(clean) || exists(filepath.Join(filepath.Dir(d.path), clean))):
				default:
					t.Errorf("%s names %s, which is not in the repository", d.path, word)
				}
			}
		}
	}
}

func exists(rel string) bool {
	_, err := os.Stat(filepath.Join(root(), rel))
	return err == nil
}

var script = regexp.MustCompile(`scripts/[a-z][a-z0-9-]*`)

// Every scripts/ command named anywhere (code blocks too) exists and can
// be run.
func TestScriptsExist(t *testing.T) {
	for _, d := range docs(t) {
		for _, s := range script.FindAllString(d.text, -1) {
			info, err := os.Stat(filepath.Join(root(), s))
			if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
				t.Errorf("%s names %s, which is not an executable script", d.path, s)
			}
		}
	}
}

var (
	getenv   = regexp.MustCompile(`getenv\("([A-Z][A-Z0-9_]*)"\)`)
	compose  = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)`)
	dotenv   = regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)=`)
	tableVar = regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]*)`")
)

// read is every variable the webapp's configuration and the compose files
// read.
func read(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	scan := func(rel string, re *regexp.Regexp) {
		data, err := os.ReadFile(filepath.Join(root(), rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			vars[m[1]] = rel
		}
	}
	scan("webapp/config/config.go", getenv)
	composeFiles, _ := filepath.Glob(filepath.Join(root(), "compose*.yaml"))
	benchFiles, _ := filepath.Glob(filepath.Join(root(), "bench", "*", "compose.yaml"))
	for _, f := range append(composeFiles, benchFiles...) {
		rel, _ := filepath.Rel(root(), f)
		scan(rel, compose)
	}
	scan(".env", dotenv)
	return vars
}

// The configuration page names every variable the webapp and the compose
// files read, and each variable it names is read by something.
func TestConfigurationPageNamesEveryVariable(t *testing.T) {
	page, err := os.ReadFile(filepath.Join(root(), "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range tableVar.FindAllStringSubmatch(string(page), -1) {
		named[m[1]] = true
	}
	for v, where := range read(t) {
		if !named[v] {
			t.Errorf("%s reads %s, which docs/configuration.md does not name", where, v)
		}
	}
	// Code, scripts and compose files: everything but the docs themselves.
	var sources strings.Builder
	for _, f := range repoFiles(t) {
		if strings.HasSuffix(f, ".md") || strings.HasPrefix(f, "docs/") || strings.HasPrefix(f, "tests/docs/") {
			continue
		}
		if data, err := os.ReadFile(filepath.Join(root(), f)); err == nil && !strings.ContainsRune(string(data[:min(len(data), 512)]), 0) {
			sources.Write(data)
			sources.WriteByte('\n')
		}
	}
	all := sources.String()
	for v := range named {
		if !regexp.MustCompile(`\b` + v + `\b`).MatchString(all) {
			t.Errorf("docs/configuration.md names %s, which nothing in the repository reads", v)
		}
	}
}

// Every row of docs/tests.md's claim table names a test that exists, in
// the file it names.
func TestClaimTableNamesTestsThatExist(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root(), "docs", "tests.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "## Claims and their tests")
	if !ok {
		t.Fatal(`docs/tests.md has no "Claims and their tests"`)
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| (.+) \\| `(Test\\w+)` \\| `([^`]+)` \\|$")
	rows := row.FindAllStringSubmatch(table, -1)
	if len(rows) < 40 {
		t.Fatalf("the claim table has %d rows", len(rows))
	}
	for _, r := range rows {
		src, err := os.ReadFile(filepath.Join(root(), r[3]))
		if err != nil {
			t.Errorf("claim %q: %v", r[1], err)
			continue
		}
		if !regexp.MustCompile(`(?m)^func ` + r[2] + `\(`).Match(src) {
			t.Errorf("claim %q names %s, which %s does not define", r[1], r[2], r[3])
		}
	}
}
