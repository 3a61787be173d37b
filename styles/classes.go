package styles

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// classesJSON is the one definition of the maps' colour classes: the pages
// load it (/styles/classes.json) and the served styles take their class
// colours from it (layers whose metadata names "flowtiles:classes").
//
//go:embed classes.json
var classesJSON []byte

// Class is a fixed, labelled colour scale over a feature property: colour
// i for values in [Breaks[i-1], Breaks[i]).
type Class struct {
	Property string    `json:"property"`
	Unit     string    `json:"unit"`
	Breaks   []float64 `json:"breaks"`
	Colors   []string  `json:"colors"`
}

// Classes is the parsed classes.json.
type Classes struct {
	Backgrounds map[string]string `json:"backgrounds"`
	Classes     map[string]Class  `json:"classes"`
}

// ClassesJSON returns classes.json as embedded (shared: do not modify).
func ClassesJSON() []byte { return classesJSON }

// LoadClasses parses classes.json and checks that every class has one
// colour more than breaks, and rising breaks.
func LoadClasses() (Classes, error) {
	var c Classes
	if err := json.Unmarshal(classesJSON, &c); err != nil {
		return c, fmt.Errorf("classes.json: %w", err)
	}
	for name, cl := range c.Classes {
		if len(cl.Colors) != len(cl.Breaks)+1 || cl.Property == "" {
			return c, fmt.Errorf("classes.json: %s: %d colours for %d breaks", name, len(cl.Colors), len(cl.Breaks))
		}
		for i := 1; i < len(cl.Breaks); i++ {
			if cl.Breaks[i] <= cl.Breaks[i-1] {
				return c, fmt.Errorf("classes.json: %s: breaks not rising", name)
			}
		}
	}
	return c, nil
}

// Step is the MapLibre expression colouring by a class: a step over the
// class's property, read as a number (a missing one as 0).
func (cl Class) Step() []any {
	e := []any{"step", []any{"to-number", []any{"get", cl.Property}, 0}, cl.Colors[0]}
	for i, b := range cl.Breaks {
		e = append(e, b, cl.Colors[i+1])
	}
	return e
}
