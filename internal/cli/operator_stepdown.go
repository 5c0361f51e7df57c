package cli

// runStepDown asks the active node to give up leadership (PUT
// sys/step-down, sudo); sent to a standby it is forwarded to the active
// node. Vault's CLI prints the same line.
func runStepDown(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	if err := s.client.Sys().StepDownWithContext(s.ctx); err != nil {
		return serverError("stepping down", err)
	}
	return s.success("Success! Stepped down: " + s.client.Address())
}
