/*
 * ssi.h - the `#python` tag of mod_include's server-side includes
 * (python-api.md §1.6): <!--#python eval="expr" --> and
 * <!--#python exec="statements" -->.
 */
#ifndef HYDRA_SSI_H
#define HYDRA_SSI_H

#include "hydra.h"

/* Registers the `python` tag with mod_include through its optional
 * functions; does nothing when mod_include is not loaded. Called in each
 * child at child_init (interpreters.md §10 step 3), before any request.
 * Returns 1 if the tag was registered. */
int ssi_register_python_tag(server_rec *s);

#endif /* HYDRA_SSI_H */
