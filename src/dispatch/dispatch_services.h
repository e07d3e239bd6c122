/*
 * dispatch_services.h - installs the dispatch work that the object layer
 * calls through objects/obj_services.h (see dispatch_services.c).
 */
#ifndef HYDRA_DISPATCH_SERVICES_H
#define HYDRA_DISPATCH_SERVICES_H

#include "hydra.h"

/* Called once in child_init, before Python starts. */
void dispatch_services_install(void);

#endif /* HYDRA_DISPATCH_SERVICES_H */
