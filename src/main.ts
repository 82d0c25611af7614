import { Supervisor } from "./core"
const s = new Supervisor()
console.log(`state ${s.state}`)
