#ifndef WG_VERSION_H
#define WG_VERSION_H
#define WG_VERSION "0.1.0"
#endif
