// wtcache for a host program: everything it needs, in one include.
// Installed as <wtcache/wtcache.hpp>; see app/service.hpp (the service),
// messages/cache_api.hpp (the typed cache actor), app/client.hpp (blocking
// and future clients) and app/private_servers.hpp.
#pragma once

#include "version.hpp"
#include "app/client.hpp"
#include "app/private_servers.hpp"
#include "app/service.hpp"
#include "messages/cache_api.hpp"
#include "messages/errors.hpp"
