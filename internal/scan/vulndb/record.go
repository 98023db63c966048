package vulndb

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
)

// MaxRecordSize bounds one OSV JSON record. The largest real advisories are a
// few hundred KiB; anything far beyond is hostile or broken.
const MaxRecordSize = 8 << 20

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// ParseRecord decodes one OSV JSON record and checks the fields berth relies
// on: an id made of printable characters and well-formed affected entries.
func ParseRecord(data []byte) (*osvpb.Vulnerability, error) {
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("record is %d bytes, more than the %d allowed", len(data), MaxRecordSize)
	}
	v := &osvpb.Vulnerability{}
	if err := unmarshal.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decoding OSV record: %w", err)
	}
	if err := checkID(v.GetId()); err != nil {
		return nil, err
	}
	for _, a := range v.GetAliases() {
		if err := checkID(a); err != nil {
			return nil, fmt.Errorf("alias of %s: %w", v.GetId(), err)
		}
	}
	return v, nil
}

func checkID(id string) error {
	if id == "" {
		return errors.New("record has no id")
	}
	if len(id) > 256 {
		return fmt.Errorf("id %.40q... is too long", id)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("id %q has a non-printable character", id)
		}
	}
	return nil
}

// EcosystemBase drops the release suffix of an OSV ecosystem: "Debian:12"
// indexes under "Debian". The suffix is compared later by the matcher.
func EcosystemBase(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

// NormalizeName is how package names are indexed: PyPI names are compared
// case- and separator-insensitively (PEP 503), every other ecosystem exactly.
func NormalizeName(ecoBase, name string) string {
	if ecoBase == "PyPI" {
		name = strings.ToLower(name)
		var b strings.Builder
		sep := false
		for _, r := range name {
			if r == '-' || r == '_' || r == '.' {
				sep = true
				continue
			}
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			b.WriteRune(r)
		}
		return b.String()
	}
	return name
}

// indexKeys lists the (ecosystem, name) keys a record is reachable from.
func indexKeys(v *osvpb.Vulnerability) []string {
	seen := map[string]bool{}
	var keys []string
	for _, a := range v.GetAffected() {
		p := a.GetPackage()
		if p.GetName() == "" || p.GetEcosystem() == "" {
			continue
		}
		base := EcosystemBase(p.GetEcosystem())
		k := indexKey(base, NormalizeName(base, p.GetName()))
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func indexKey(ecoBase, name string) string { return ecoBase + "\x00" + name }
