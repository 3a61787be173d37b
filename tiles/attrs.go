package tiles

import (
	"fmt"
	"strings"
)

// AgeBand is one of the age bands of the data contract. The zero value means
// "not given" and never matches an age filter.
type AgeBand uint8

// Age bands, in the order of the data contract.
const (
	AgeUnknown AgeBand = iota
	Age0to17
	Age18to24
	Age25to34
	Age35to44
	Age45to54
	Age55to64
	Age65plus
)

var ageNames = [...]string{"", "0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"}

// AgeBands lists the known bands in order (without AgeUnknown).
var AgeBands = []AgeBand{Age0to17, Age18to24, Age25to34, Age35to44, Age45to54, Age55to64, Age65plus}

func (a AgeBand) String() string {
	if int(a) < len(ageNames) {
		return ageNames[a]
	}
	return fmt.Sprintf("AgeBand(%d)", uint8(a))
}

// ParseAgeBand reads a band as written in the data contract ("35-44", "65+").
// The empty string is AgeUnknown.
func ParseAgeBand(s string) (AgeBand, error) {
	for i, n := range ageNames {
		if n == s {
			return AgeBand(i), nil
		}
	}
	return 0, fmt.Errorf("unknown age band %s (want one of %s)", Quote(s), strings.Join(ageNames[1:], ", "))
}

// Gender is f, m or x; the zero value means "not given".
type Gender uint8

// Genders of the data contract.
const (
	GenderUnknown Gender = iota
	GenderF
	GenderM
	GenderX
)

var genderNames = [...]string{"", "f", "m", "x"}

// Genders lists the known genders in order.
var Genders = []Gender{GenderF, GenderM, GenderX}

func (g Gender) String() string {
	if int(g) < len(genderNames) {
		return genderNames[g]
	}
	return fmt.Sprintf("Gender(%d)", uint8(g))
}

// ParseGender reads f, m or x; the empty string is GenderUnknown.
func ParseGender(s string) (Gender, error) {
	for i, n := range genderNames {
		if n == s {
			return Gender(i), nil
		}
	}
	return 0, fmt.Errorf("unknown gender %s (want f, m or x)", Quote(s))
}

// Spend is the spending class; the zero value means "not given".
type Spend uint8

// Spending classes of the data contract.
const (
	SpendUnknown Spend = iota
	SpendLow
	SpendMedium
	SpendHigh
)

var spendNames = [...]string{"", "low", "medium", "high"}

// Spends lists the known classes in order.
var Spends = []Spend{SpendLow, SpendMedium, SpendHigh}

func (s Spend) String() string {
	if int(s) < len(spendNames) {
		return spendNames[s]
	}
	return fmt.Sprintf("Spend(%d)", uint8(s))
}

// ParseSpend reads low, medium or high; the empty string is SpendUnknown.
func ParseSpend(s string) (Spend, error) {
	for i, n := range spendNames {
		if n == s {
			return Spend(i), nil
		}
	}
	return 0, fmt.Errorf("unknown spend class %s (want low, medium or high)", Quote(s))
}

// Attrs packs age band, gender and spending class into one byte: the
// in-memory store keeps one per record and filters with a 256-entry table.
type Attrs uint8

// PackAttrs packs the three small attributes.
func PackAttrs(a AgeBand, g Gender, s Spend) Attrs {
	return Attrs(uint8(a)&7 | (uint8(g)&3)<<3 | (uint8(s)&3)<<5)
}

// Age returns the packed age band.
func (p Attrs) Age() AgeBand { return AgeBand(p & 7) }

// Gender returns the packed gender.
func (p Attrs) Gender() Gender { return Gender(p >> 3 & 3) }

// Spend returns the packed spending class.
func (p Attrs) Spend() Spend { return Spend(p >> 5 & 3) }
