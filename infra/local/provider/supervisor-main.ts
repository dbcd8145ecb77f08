// Entry point of the detached fleet supervisor: `node supervisor-main.js <fleet dir>`.
import { runSupervisor } from "./fleet-supervisor";

runSupervisor(process.argv[2]);
