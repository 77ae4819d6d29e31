// Package ids checks the identifiers that Santong records: the 统一社会信用代码 (unified social
// credit code, GB 32100-2015) of an organisation and the GTIN of a product (GS1 General
// Specifications 7.9.1).
package ids

import "github.com/santong-cn/santong/internal/fault"

// usccAlphabet is the 31-character set of GB 32100-2015: digits and the capitals without I, O, S, V, Z.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are the weights of positions 1-17: 3^(i-1) mod 31.
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

func usccValue(c byte) int {
	for i := 0; i < len(usccAlphabet); i++ {
		if usccAlphabet[i] == c {
			return i
		}
	}
	return -1
}

// USCCCheck returns the check character for the first 17 characters of a credit code.
func USCCCheck(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fault.New(fault.Invalid, "credit code body must be 17 characters")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := usccValue(first17[i])
		if v < 0 {
			return 0, fault.New(fault.Invalid, "credit code has a character outside 0-9 and A-Y without I, O, S, V, Z at position %d", i+1)
		}
		sum += v * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31], nil
}

// ValidateUSCC checks an 18-character unified social credit code, its alphabet and its check character.
func ValidateUSCC(code string) error {
	if len(code) != 18 {
		return fault.New(fault.Invalid, "credit code must be 18 characters, got %d", len(code))
	}
	want, err := USCCCheck(code[:17])
	if err != nil {
		return err
	}
	if usccValue(code[17]) < 0 {
		return fault.New(fault.Invalid, "credit code has a character outside 0-9 and A-Y without I, O, S, V, Z at position 18")
	}
	if code[17] != want {
		return fault.New(fault.Invalid, "credit code check character is wrong")
	}
	return nil
}

// GTINCheck returns the check digit for the data digits of a GTIN (all but the last digit).
func GTINCheck(data string) (byte, error) {
	sum := 0
	for i := 0; i < len(data); i++ {
		c := data[len(data)-1-i]
		if c < '0' || c > '9' {
			return 0, fault.New(fault.Invalid, "GTIN must be digits only")
		}
		d := int(c - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10), nil
}

// ValidateGTIN checks a GTIN-8, -12, -13 or -14 and its check digit.
func ValidateGTIN(gtin string) error {
	switch len(gtin) {
	case 8, 12, 13, 14:
	default:
		return fault.New(fault.Invalid, "GTIN must be 8, 12, 13 or 14 digits, got %d characters", len(gtin))
	}
	want, err := GTINCheck(gtin[:len(gtin)-1])
	if err != nil {
		return err
	}
	if c := gtin[len(gtin)-1]; c < '0' || c > '9' {
		return fault.New(fault.Invalid, "GTIN must be digits only")
	}
	if gtin[len(gtin)-1] != want {
		return fault.New(fault.Invalid, "GTIN check digit is wrong")
	}
	return nil
}

// GTIN14 returns a valid GTIN padded with leading zeros to 14 digits, the form GS1 Digital Link uses.
func GTIN14(gtin string) (string, error) {
	if err := ValidateGTIN(gtin); err != nil {
		return "", err
	}
	for len(gtin) < 14 {
		gtin = "0" + gtin
	}
	return gtin, nil
}
