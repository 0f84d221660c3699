package testdata

import (
	"errors"
	"os"
	"path/filepath"
)

// Dir returns the shared data folder: shared/data found upward from the working directory,
// else /work/shared/data.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if _, err := os.Stat(filepath.Join(p, "ec2-catalog.json")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if _, err := os.Stat("/work/shared/data/ec2-catalog.json"); err == nil {
		return "/work/shared/data", nil
	}
	return "", errors.New("shared test data not found: expected shared/data above the repository or /work/shared/data")
}

// File is Dir()/name.
func File(name string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}
