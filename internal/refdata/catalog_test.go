package refdata

import "testing"

func TestItalyCatalog(t *testing.T) {
	c := Italy()
	if n := len(c.Municipalities); n != 7898 {
		t.Fatalf("municipalities: got %d, want 7898", n)
	}
	m, ok := c.Municipality("054017")
	if !ok || m.Name != "Deruta" || m.Province != "PG" || m.ProvinceCode != "054" || m.RegionCode != "10" || m.Population != 9456 {
		t.Fatalf("Deruta: got %+v, %v", m, ok)
	}
	for _, tc := range []struct {
		code string
		n    int
	}{{"054017", 1}, {"054", 59}, {"PG", 59}, {"pg", 59}, {"10", 92}} {
		t.Run(tc.code, func(t *testing.T) {
			ms, ok := c.ResolveOrigin(tc.code)
			if !ok || len(ms) != tc.n {
				t.Errorf("ResolveOrigin(%q): got %d codes, %v; want %d", tc.code, len(ms), ok, tc.n)
			}
		})
	}
	for _, bad := range []string{"", "999999", "XX", "99", "5401"} {
		if _, ok := c.ResolveOrigin(bad); ok {
			t.Errorf("ResolveOrigin(%q) resolved", bad)
		}
	}
}
