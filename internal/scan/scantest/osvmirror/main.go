// Command osvmirror serves, on 127.0.0.1, a mirror of osv.dev's exports for
// benchmarks (bench/scan.sh): the Go export made of the Go vulnerability
// database's real records and the GitHub advisories they alias, and Debian
// and npm exports generated in osv.dev's shape for the packages of a dpkg
// status file and an npm list, padded with records of packages not
// installed, as real exports are, and a GIT export with the CVE records
// those name without a score. It prints its base URL and serves until
// it is killed. Not part of berth.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/berth-dev/berth/internal/scan/scantest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	vulndb := flag.String("vulndb", "", "the Go vulnerability database's data/osv directory")
	status := flag.String("dpkg-status", "", "dpkg status file whose source packages get Debian records")
	npm := flag.String("npm", "", "comma separated NAME@VERSION npm packages that get GHSA records")
	debianExtra := flag.Int("debian-extra", 40000, "Debian records about packages not installed")
	npmExtra := flag.Int("npm-extra", 20000, "npm MAL- records about packages not installed")
	flag.Parse()
	if err := run(*listen, *vulndb, *status, *npm, *debianExtra, *npmExtra); err != nil {
		fmt.Fprintln(os.Stderr, "osvmirror:", err)
		os.Exit(1)
	}
}

func run(listen, vulndb, status, npmList string, debianExtra, npmExtra int) error {
	exports := map[string][]*osvpb.Vulnerability{}
	if vulndb != "" {
		recs, err := scantest.GoExport(vulndb)
		if err != nil {
			return err
		}
		exports["Go"] = recs
	}
	pkgs, err := sourcePackages(status)
	if err != nil {
		return err
	}
	exports["Debian"] = scantest.DebianExport(pkgs, debianExtra)
	npm := map[string]string{}
	for _, p := range strings.Split(npmList, ",") {
		if n, v, ok := strings.Cut(strings.TrimSpace(p), "@"); ok {
			npm[n] = v
		}
	}
	exports["npm"] = scantest.NPMExport(npm, npmExtra)
	var all []*osvpb.Vulnerability
	for _, recs := range exports {
		all = append(all, recs...)
	}
	exports["GIT"] = scantest.GITExport(all)
	m := scantest.NewMirror()
	for eco, recs := range exports {
		z, err := scantest.ExportZip(recs)
		if err != nil {
			return err
		}
		m.Put(eco, z, time.Now())
		fmt.Fprintf(os.Stderr, "osvmirror: %s: %d records, %d bytes\n", eco, len(recs), len(z))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println("http://" + ln.Addr().String())
	return http.Serve(ln, m)
}

// sourcePackages reads the source packages and versions of a dpkg status
// file (a binary package's Source field, "name (version)" when the source
// version differs, else the package itself).
func sourcePackages(path string) ([]scantest.SourcePackage, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []scantest.SourcePackage
	var pkg, src, ver string
	flush := func() {
		name, v := src, ver
		if name == "" {
			name = pkg
		}
		if n, sv, ok := strings.Cut(name, " ("); ok {
			name, v = n, strings.TrimSuffix(sv, ")")
		}
		if name != "" && v != "" && !seen[name] {
			seen[name] = true
			out = append(out, scantest.SourcePackage{Name: name, Version: v})
		}
		pkg, src, ver = "", "", ""
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "Package: "):
			pkg = strings.TrimPrefix(line, "Package: ")
		case strings.HasPrefix(line, "Source: "):
			src = strings.TrimPrefix(line, "Source: ")
		case strings.HasPrefix(line, "Version: "):
			ver = strings.TrimPrefix(line, "Version: ")
		}
	}
	flush()
	return out, sc.Err()
}
