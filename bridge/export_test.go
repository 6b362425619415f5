package bridge

// SetAfterLedger sets a hook called after a command's outcome is committed
// and before its message is acknowledged; when it returns true the message
// is left unacknowledged, as if the process died at that point.
func SetAfterLedger(c *Config, hook func(commandID string) bool) { c.afterLedger = hook }
