/*
 * status.h - the python-status handler; see status.c.
 */
#ifndef HYDRA_STATUS_H
#define HYDRA_STATUS_H

#include "hydra.h"

/* Content handler for `SetHandler python-status`; DECLINED otherwise. */
int status_handler(request_rec *r);

#endif
