package refdata

import (
	"testing"

	"github.com/flowtiles/flowtiles/tiles"
)

// Every province of the embedded municipalities has a name, found by code
// and by abbreviation, and NameProvinces puts it on the province places.
func TestProvinceNames(t *testing.T) {
	c := Italy()
	seen := map[string]bool{}
	for _, m := range c.Municipalities {
		if seen[m.ProvinceCode] {
			continue
		}
		seen[m.ProvinceCode] = true
		n, code, ok := c.ProvinceName(m.ProvinceCode)
		if !ok || n == "" || code != m.ProvinceCode {
			t.Errorf("province %s (%s): no name", m.ProvinceCode, m.Province)
		}
		if n2, code2, ok := c.ProvinceName(m.Province); !ok || n2 != n || code2 != m.ProvinceCode {
			t.Errorf("province %s by abbreviation: %q %q %v", m.Province, n2, code2, ok)
		}
	}
	if len(seen) != len(provinceNames) {
		t.Errorf("%d provinces in the data, %d names", len(seen), len(provinceNames))
	}
	if n, _, _ := c.ProvinceName("PG"); n != "Perugia" {
		t.Errorf("PG is %q", n)
	}
	places, err := Places()
	if err != nil {
		t.Fatal(err)
	}
	NameProvinces(places)
	for _, p := range places {
		if p.Level == tiles.LevelProvince && p.Code == "054" && p.Name != "Perugia" {
			t.Errorf("province 054 named %q", p.Name)
		}
	}
}
