import { BlockList } from 'node:net';
import { networkInterfaces } from 'node:os';
import type Docker from 'dockerode';
import { HarombeError } from '@harombe/core';
import { formatIp, parseCidr } from './subnet-pool.js';

/** The parts of `docker network inspect` the gateway is read from. */
export interface NetworkDescription {
  Name: string;
  Id: string;
  Driver?: string;
  Options?: Record<string, string>;
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] };
}

/** Interfaces by name with their IPv4 addresses; default: this host's. */
export type InterfaceAddresses = () => Record<string, string[]>;

const hostInterfaces: InterfaceAddresses = () =>
  Object.fromEntries(
    Object.entries(networkInterfaces()).map(([name, entries]) => [
      name,
      (entries ?? []).filter((e) => e.family === 'IPv4').map((e) => e.address),
    ]),
  );

/**
 * The IPv4 gateway of a Docker network, whether or not Docker lists it: Docker 20.10 leaves
 * `Gateway` out of the IPAM config of a network made without `--gateway` (the default bridge
 * among them) although it assigned one. In order: the listed gateway; the bridge interface's
 * own address, when this process runs on the network's host; the subnet's first host, which is
 * what Docker assigns when nobody chose. A network with no IPv4 subnet has no gateway: the error
 * says how to make one that has.
 */
export function gatewayOf(network: NetworkDescription, interfaces: InterfaceAddresses = hostInterfaces): string {
  const ipv4 = (network.IPAM?.Config ?? []).filter((entry) => entry.Subnet && parseCidr(entry.Subnet));
  const listed = ipv4.find((entry) => entry.Gateway)?.Gateway;
  if (listed) return listed;
  const subnet = ipv4[0]?.Subnet;
  if (!subnet) {
    throw new HarombeError(
      'RuntimeUnavailable',
      `the Docker network ${network.Name} has no IPv4 subnet, so it has no gateway; remove it (the worker then creates it) or create it with one: docker network create --subnet 172.30.0.0/24 --gateway 172.30.0.1 ${network.Name}`,
    );
  }
  if ((network.Driver ?? 'bridge') === 'bridge') {
    const onBridge = (interfaces()[bridgeInterface(network)] ?? []).find((address) => inCidr(address, subnet));
    if (onBridge) return onBridge;
  }
  return firstHost(subnet);
}

/** Reads the network and returns its gateway (see gatewayOf). */
export async function networkGateway(docker: Docker, name: string, interfaces?: InterfaceAddresses): Promise<string> {
  const network = (await docker.getNetwork(name).inspect()) as NetworkDescription;
  return gatewayOf(network, interfaces);
}

/** The Linux interface of a bridge network: named in its options, else docker0 or br-<id>. */
function bridgeInterface(network: NetworkDescription): string {
  const named = network.Options?.['com.docker.network.bridge.name'];
  if (named) return named;
  return network.Name === 'bridge' ? 'docker0' : `br-${network.Id.slice(0, 12)}`;
}

/** Whether `address` lies in `cidr` (both IPv4). */
function inCidr(address: string, cidr: string): boolean {
  const parsed = parseCidr(cidr);
  if (!parsed) return false;
  const list = new BlockList();
  list.addSubnet(formatIp(parsed.address), parsed.prefix, 'ipv4');
  return list.check(address, 'ipv4');
}

/** The first host address of an IPv4 CIDR. */
function firstHost(cidr: string): string {
  return formatIp((parseCidr(cidr) as { address: number }).address + 1);
}
