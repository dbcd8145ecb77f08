// Entry point of the detached fleet supervisor: `node supervisor-main.js <fleet dir>`.
// Cutover runs with umask 077 so its own files stay private; the
// applications a fleet runs get the usual 022, as under any service manager.
import "../../compile-cache";
import { runSupervisor } from "./fleet-supervisor";

process.umask(0o022);
runSupervisor(process.argv[2]);
