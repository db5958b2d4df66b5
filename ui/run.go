package ui

import (
	"context"
	"errors"

	tea "charm.land/bubbletea/v2"
)

// Run opens the TUI on the terminal until the user quits or ctx ends.
func Run(ctx context.Context, o Options) error {
	m := New(o)
	defer m.Close()
	p := tea.NewProgram(m, tea.WithContext(ctx))
	_, err := p.Run()
	if err != nil && (errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, tea.ErrInterrupted)) && ctx.Err() != nil {
		return nil
	}
	return err
}
