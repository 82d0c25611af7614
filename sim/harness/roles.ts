// Explicit role binding (the crux of the bench): the firmware's roles are
// plain names ("confirm", "estop", "leakPedal" are all Buttons), which the
// DeviceScript VM's Role Manager service would bind automatically in name
// order to whatever Button services it finds. The bench instead:
//   1. writes auto_bind = 0 on the VM's Role Manager (0x1e4b7e66, reg 0x80),
//   2. clear_all_roles (0x84),
//   3. set_role (0x81: device id, service index, role name) for every role,
//   4. reads the binding back with list_roles (0x83, a pipe) and fails
//      loudly unless every role points at the intended bench service.
// The functional check (press each button, watch the firmware react) is in
// runner.ts (`verifyButtons`).
import {
        CMD_SET_REG,
    fromHex,
    InPipeReader,
    JDBus,
    JDDevice,
    JDService,
    jdpack,
    jdunpack,
    Packet,
    SRV_ROLE_MANAGER,
    toHex,
} from "jacdac-ts"
import { RoleTarget } from "./servers"

const RM_REG_AUTO_BIND = 0x80
const RM_CMD_SET_ROLE = 0x81
const RM_CMD_LIST_ROLES = 0x83
const RM_CMD_CLEAR_ALL_ROLES = 0x84

export interface RoleBinding {
    role: string
    deviceId: string
    serviceClass: number
    serviceIndex: number
}

export class RoleBindingError extends Error {}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** The VM device: the one serving a Role Manager (newest first), excluding `exclude`. */
export function findVmDevice(bus: JDBus, deviceId?: string): JDDevice | undefined {
    const devs = bus.devices({ serviceClass: SRV_ROLE_MANAGER }).filter(d => !d.lost)
    if (deviceId) return devs.find(d => d.deviceId === deviceId)
    return devs[devs.length - 1]
}

function roleManager(dev: JDDevice): JDService {
    const rm = dev.services({ serviceClass: SRV_ROLE_MANAGER })[0]
    if (!rm) throw new RoleBindingError(`device ${dev.shortId} has no Role Manager service`)
    return rm
}

export async function listRoles(bus: JDBus, dev: JDDevice, timeoutMs = 1500): Promise<RoleBinding[]> {
    const rm = roleManager(dev)
    const inp = new InPipeReader(bus)
    await rm.sendPacketAsync(inp.openCommand(RM_CMD_LIST_ROLES), true)
    const out: RoleBinding[] = []
    for (const buf of await inp.readData(timeoutMs)) {
        const [devid, serviceClass, serviceIndex, role] = jdunpack<[Uint8Array, number, number, string]>(buf, "b[8] u32 u8 s")
        out.push({ role, deviceId: toHex(devid), serviceClass, serviceIndex })
    }
    return out
}

async function readAutoBind(rm: JDService): Promise<number | undefined> {
    const reg = rm.register(RM_REG_AUTO_BIND)
    try {
        await reg.refresh()
    } catch {
        return undefined
    }
    return reg.unpackedValue?.[0] as number | undefined
}

/**
 * set_role payload. The C role manager (jacdac-c services/rolemgr.c, used by
 * the DeviceScript runtime) takes the name length as
 * `service_size - sizeof(jd_role_manager_set_role_t)`, and that struct
 * (u64 device_id, u8 service_idx, char role[0]) is not packed: sizeof is 16,
 * not 9. A spec-exact payload (9 + name bytes) therefore looks 7 bytes short
 * and matches no role, which is why a plain set_role (e.g. jacdac-ts
 * RoleManagerClient.setRole) silently does nothing on the VM. Seven NUL
 * bytes after the name make the computed length equal the name's.
 */
export function setRolePacket(deviceId: string, serviceIndex: number, role: string): Packet {
    const body = jdpack("b[8] u8 s", [fromHex(deviceId), serviceIndex, role])
    const data = new Uint8Array(body.length + SET_ROLE_PAD)
    data.set(body, 0)
    return Packet.from(RM_CMD_SET_ROLE, data)
}
const SET_ROLE_PAD = 7

/** Compare a role listing with the targets; returns the problems (empty = correct). */
export function bindingProblems(listing: RoleBinding[], targets: RoleTarget[], benchDeviceId: string): string[] {
    const problems: string[] = []
    for (const t of targets) {
        const b = listing.find(r => r.role === t.role)
        if (!b) {
            problems.push(`role "${t.role}" is not declared by the firmware`)
            continue
        }
        if (b.serviceClass !== t.serviceClass)
            problems.push(`role "${t.role}" has class 0x${b.serviceClass.toString(16)}, bench serves 0x${t.serviceClass.toString(16)}`)
        if (b.deviceId !== benchDeviceId || b.serviceIndex !== t.serviceIndex)
            problems.push(
                `role "${t.role}" bound to ${b.deviceId === "0000000000000000" ? "nothing" : `${b.deviceId}[${b.serviceIndex}]`}, expected ${benchDeviceId}[${t.serviceIndex}]`
            )
    }
    return problems
}

/**
 * Disable auto-binding and bind every target role to its bench service;
 * verify by listing. Throws RoleBindingError (with the listing) on failure.
 */
export async function bindRoles(
    bus: JDBus,
    vm: JDDevice,
    targets: RoleTarget[],
    benchDeviceId: string,
    log: (m: string) => void = () => {}
): Promise<RoleBinding[]> {
    const rm = roleManager(vm)
    let listing: RoleBinding[] = []
    let problems: string[] = []
    for (let attempt = 1; attempt <= 12; attempt++) {
        await rm.sendPacketAsync(Packet.from(CMD_SET_REG | RM_REG_AUTO_BIND, jdpack("u8", [0])), true)
        const auto = await readAutoBind(rm)
        if (auto !== 0 && attempt > 4) log(`roles: auto_bind reads ${auto} after writing 0 (attempt ${attempt})`)
        await rm.sendPacketAsync(Packet.onlyHeader(RM_CMD_CLEAR_ALL_ROLES), true)
        for (const t of targets) await rm.sendPacketAsync(setRolePacket(benchDeviceId, t.serviceIndex, t.role), true)
        let internal: RoleTarget[] = []
        try {
            // the runtime's own roles (e.g. "Settings0" for @devicescript/settings)
            // bind to the VM device's own services; with auto-binding off
            // they must be bound explicitly too, or the firmware waits on
            // them forever (readSetting at boot)
            internal = (await listRoles(bus, vm))
                .filter(r => !targets.some(t => t.role === r.role))
                .map(r => ({ role: r.role, serviceClass: r.serviceClass, serviceIndex: vm.serviceClasses.indexOf(r.serviceClass) }))
            for (const t of internal)
                if (t.serviceIndex > 0) await rm.sendPacketAsync(setRolePacket(vm.deviceId, t.serviceIndex, t.role), true)
            await sleep(60)
            listing = await listRoles(bus, vm)
        } catch (e) {
            log(`roles: list_roles failed (${(e as Error).message}), retrying`)
            await sleep(300)
            continue
        }
        problems = bindingProblems(listing, targets, benchDeviceId)
        for (const t of internal) {
            const b = listing.find(r => r.role === t.role)
            if (t.serviceIndex <= 0) problems.push(`firmware role "${t.role}" (0x${t.serviceClass.toString(16)}) has no service on the VM device`)
            else if (!b || b.deviceId !== vm.deviceId || b.serviceIndex !== t.serviceIndex)
                problems.push(`firmware role "${t.role}" not bound to the VM's own service`)
        }
        if (!problems.length) return listing
        // the first attempt often comes before the VM has seen the bench device announce itself
        if (attempt > 4) log(`roles: attempt ${attempt}: ${problems.join("; ")}`)
        await sleep(200)
    }
    throw new RoleBindingError(
        `role binding failed: ${problems.join("; ")}\nfirmware roles: ${listing
            .map(r => `${r.role}=0x${r.serviceClass.toString(16)}@${r.deviceId}[${r.serviceIndex}]`)
            .join(", ")}`
    )
}
