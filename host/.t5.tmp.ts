import { bench, sleep, cli } from "./test/helpers"
import { FakeInjector } from "./test/fake-injector"
async function main() {
  const b = await bench({ bench: true })
  const rec = cli("--tcp", b.tcp, "record", "-o", "/tmp/h/x.jsonl", "--force")
  await rec.waitFor(/connected: injector/)
  const id = b.fake.deviceId
  await b.fake.goOffline(); await sleep(300); await b.fake.goOnline()
  b.hub.kick(); await sleep(1500)
  await b.fake.stop()
  const fresh = await new FakeInjector({ tcp: b.tcp, deviceId: id, bench: true, clockStartMs: 10 }).start()
  b.fake = fresh
  await sleep(2000)
  rec.signal("SIGINT"); console.log((await rec.result()).err)
  await b.close()
  await sleep(500)
  console.log((process as any)._getActiveHandles().map((h: any) => h.constructor.name + " " + (h._idleTimeout ?? "") + " " + (h.remotePort ?? "")))
}
main()
