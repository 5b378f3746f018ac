import type { BlockList } from 'node:net';

/** How an address range may be reached through the egress proxy (see special-purpose-addresses.mjs). */
export type SpecialPurposeKind = 'never' | 'private' | 'special';
export type SpecialPurposeEntry = [range: string, name: string, kind: SpecialPurposeKind];

export const SPECIAL_PURPOSE_IPV4: readonly SpecialPurposeEntry[];
export const SPECIAL_PURPOSE_IPV6: readonly SpecialPurposeEntry[];
export function specialPurpose(address: string): { range: string; name: string; kind: SpecialPurposeKind } | undefined;
export function addressVerdict(
  address: string,
  lists: { forbidden?: BlockList; allowed?: BlockList },
): 'forbidden_address' | 'private_address' | undefined;
export function blockList(ranges: readonly string[] | undefined): BlockList;
