package tiles

import (
	"fmt"
	"strings"
)

// Country is an ISO 3166-1 alpha-2 code, upper case ("IT", "DE"). The zero
// value means "not given".
type Country [2]byte

// iso3166 holds the 249 officially assigned alpha-2 codes plus XK (Kosovo,
// user-assigned but used by the EU and by mobile operators), sorted.
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS " +
	"MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS " +
	"RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW " +
	"TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW"

// Countries lists every known code in sorted order; a country's position in
// it plus one is its compact index (see CountryIndex).
var Countries = func() []Country {
	f := strings.Fields(iso3166)
	out := make([]Country, len(f))
	for i, s := range f {
		out[i] = Country{s[0], s[1]}
	}
	return out
}()

var countryIndex = func() map[Country]uint8 {
	m := make(map[Country]uint8, len(Countries))
	for i, c := range Countries {
		m[c] = uint8(i + 1)
	}
	return m
}()

// Italy is the country whose residents are described by origin municipality
// rather than by nationality.
var Italy = Country{'I', 'T'}

func (c Country) String() string {
	if c == (Country{}) {
		return ""
	}
	return string(c[:])
}

// ParseCountry reads an ISO 3166-1 alpha-2 code (case-insensitive). The
// empty string is the zero Country.
func ParseCountry(s string) (Country, error) {
	if s == "" {
		return Country{}, nil
	}
	u := strings.ToUpper(s)
	if len(u) == 2 {
		c := Country{u[0], u[1]}
		if _, ok := countryIndex[c]; ok {
			return c, nil
		}
	}
	return Country{}, fmt.Errorf("unknown nationality %s (want an ISO 3166-1 alpha-2 code such as IT or DE)", Quote(s))
}

// CountryIndex returns 1..len(Countries) for a known code and 0 for the zero
// Country or an unknown one. It fits in a byte.
func CountryIndex(c Country) uint8 { return countryIndex[c] }

// CountryAt is the inverse of CountryIndex.
func CountryAt(i uint8) Country {
	if i == 0 || int(i) > len(Countries) {
		return Country{}
	}
	return Countries[i-1]
}
