package pages

import "github.com/a-h/templ"

// Field is one labelled form input with its hint and error.
type Field struct {
	Name         string // form field name (public contract, DESIGN.md §8)
	Label        string
	Type         string // "text", "email", "password"
	Value        string
	Hint         string
	Error        string
	Autocomplete string
	Required     bool
	ReadOnly     bool
	MaxLength    int
	// MinLength, for a new password, turns on the live length count of
	// static/js/password.js.
	MinLength int
	// InputMode picks the phone keyboard ("numeric" for a code).
	InputMode string
}

// ID is the element id, also the target of the error summary's links.
func (f Field) ID() string { return "field-" + f.Name }

func (f Field) describedBy() string {
	ids := ""
	if f.Hint != "" {
		ids = f.ID() + "-hint"
	}
	if f.Error != "" {
		if ids != "" {
			ids += " "
		}
		ids += f.ID() + "-error"
	}
	return ids
}

// aria links a control to its hint and error for screen readers.
func (f Field) aria() templ.Attributes {
	a := templ.Attributes{}
	if d := f.describedBy(); d != "" {
		a["aria-describedby"] = d
	}
	if f.Error != "" {
		a["aria-invalid"] = "true"
	}
	return a
}

// Problem is one entry of a form's error summary.
type Problem struct {
	FieldID string
	Message string
}

// Problems lists the fields' errors in form order for the error summary.
func Problems(fields ...Field) []Problem {
	var out []Problem
	for _, f := range fields {
		if f.Error != "" {
			out = append(out, Problem{FieldID: f.ID(), Message: f.Error})
		}
	}
	return out
}
