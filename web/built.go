package web

import "io/fs"

// Built reports whether this binary embeds the built UI (every page in web/dist). Without it
// every page answers 503 NotBuiltMessage; the server's start banner says so (build it with
// `make build`, which runs npm in web/ui first).
func Built() bool {
	sub, err := fs.Sub(dist, "dist")
	return err == nil && hasPages(sub)
}

// hasPages reports whether files holds every page the handler serves.
func hasPages(files fs.FS) bool {
	for _, name := range []string{homePage, broadcastPage, watchPage, vodPage, adminPage, uploadPage} {
		if _, err := fs.Stat(files, name); err != nil {
			return false
		}
	}
	return true
}
