package server

func (h *rest) auditRoutes() {}
