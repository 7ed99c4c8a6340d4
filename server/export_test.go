package server

// LotSettledWebhooks is lotSettledWebhooks (the integrator calls it from the auction's OnSettled).
func (s *Server) LotSettledWebhooks(lot any) { s.lotSettledWebhooks(lot) }
