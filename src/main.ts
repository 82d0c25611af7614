// Simulator / bench entry: the firmware with its roles bound on the bus.
// The hardware entry is src/main_hw.ts.
import { startServer } from "@devicescript/server"
import { Supervisor } from "./core"
import { InjectorServer } from "./server"
import { runInjector } from "./app"

// servers must start at top level during boot (TOOLCHAIN.md)
const server = new InjectorServer(new Supervisor())
startServer(server, { roleName: "injector" })
await runInjector(server)
